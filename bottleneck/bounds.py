"""Certified bounds and closed-form estimates of the best rank-``d`` gap ``G*(d)``.

Each bound is a small pure function of a tail energy (or singular values) and constants;
:func:`bounds` assembles them for a :class:`~bottleneck.target.Target` into a
:class:`~bottleneck.sandwich.Sandwich`, and :func:`bounds_from_spectrum` does the same for a
user who only has singular values. Gaps are in nats/token above the entropy floor.

Index (docs/theory.md §2–§3 → proof file):

================================  ==========================  =================================
function                          result                      proof
================================  ==========================  =================================
:func:`theorem_u_quadratic`       Theorem U, ``tau^2/4``      proofs/theorem_u.md
:func:`theorem_u_oscillation`     Theorem U, ``sqrt2 tau``    proofs/theorem_u.md
:func:`theorem_u_reference`       Theorem U' (zeros)          proofs/theorem_u.md
:func:`segment_function`          ``F`` of Theorem L          proofs/theorem_l.md
:func:`theorem_l`                 Theorem L                   proofs/theorem_l.md
:func:`theorem_p_paper`           Theorem P, paper's form     proofs/theorem_p.md
:func:`theorem_p_operator`        Theorem P, operator form    proofs/theorem_p.md
:func:`theorem_p_representation`  Theorem P, repr.-aware      proofs/theorem_p.md
:func:`estimate_e1`               estimate ``E_1``            proofs/estimates.md
================================  ==========================  =================================
"""

from __future__ import annotations

import sys
import types

import numpy as np

from . import _validation as _v
from .sandwich import BoundValue, Sandwich
from .spectrum import (
    centred_log_prob_matrix,
    factored_spectrum,
    factored_svd,
    fisher_weighted_matrix,
    log_prob_noise_scale,
    tail_from_top,
    top_singular_values,
    truncated_svd_with_spectrum,
)
from .target import Target, centring_matrix_apply

__all__ = [
    "theorem_u_quadratic",
    "theorem_u_oscillation",
    "theorem_u",
    "theorem_u_reference",
    "segment_function",
    "theorem_l",
    "theorem_p_paper",
    "theorem_p_operator",
    "theorem_p_representation",
    "estimate_e1",
    "truncated_svd_head",
    "factored_truncated_head",
    "restriction_candidates",
    "bounds",
    "bounds_from_spectrum",
]

SQRT2 = float(np.sqrt(2.0))
#: ``1/4`` of Theorem U: half the bound ``1/2`` on the Hessian of log-sum-exp (Lemma S).
U_QUADRATIC_COEFF = 0.25
#: ``sqrt(2)`` of Theorem U: ``osc(v) <= sqrt(2) ||Cv||`` (Lemma O).
U_OSC_COEFF = SQRT2


def _check_tail(tail_energy) -> np.ndarray:
    T = np.asarray(tail_energy, dtype=np.float64)
    if not np.all(np.isfinite(T)) or np.any(T < 0):
        raise ValueError(f"tail_energy must be finite and >= 0; got {tail_energy!r}")
    return T


# ---------------------------------------------------------------------------- Theorem U
def theorem_u_quadratic(tail_energy):
    """Quadratic upper bound of Theorem U: ``G*(d) <= T_d / 4``.

    Parameters
    ----------
    tail_energy : float or ndarray
        ``T_d = sum_{k>d} sigma_k(A_pi)^2`` (``Ã_pi`` with bias), ``>= 0``.

    Returns
    -------
    float or ndarray
        ``T_d / 4``; an upper bound on ``G*(d)`` for every full-support target.

    Notes
    -----
    Truncating ``A_pi`` gives a rank-``d`` head whose centred logit error ``delta_i`` has
    ``sum_i pi_i ||delta_i||^2 = T_d``; Lemma S (``KL(softmax(a)||softmax(a+delta)) <=
    ||C delta||^2/4``, from ``diag(q) - q q^T <= I/2``) bounds each KL. Theorem U of
    docs/theory.md; proof: proofs/theorem_u.md (constant 1/4 from Lemma S,
    proofs/lemma_s.md). Tested equal to :func:`bottleneck.symbolic.theorem_u_quadratic_expr`.
    """
    return _check_tail(tail_energy) * U_QUADRATIC_COEFF


def theorem_u_oscillation(tail_energy):
    """Oscillation upper bound of Theorem U: ``G*(d) <= sqrt(2) tau_d``, ``tau_d = sqrt(T_d)``.

    Notes
    -----
    Lemma O gives ``KL_i <= osc(delta_i) <= sqrt(2) ||C delta_i||``; Cauchy–Schwarz with
    ``sum pi_i = 1`` gives ``sum_i pi_i sqrt(2)||delta_i|| <= sqrt(2) tau_d``. Theorem U of
    docs/theory.md; proof: proofs/theorem_u.md and proofs/lemma_o.md.
    """
    return U_OSC_COEFF * np.sqrt(_check_tail(tail_energy))


def theorem_u(tail_energy):
    """Theorem U: ``G*(d) <= min(T_d/4, sqrt(2 T_d))`` (proof: proofs/theorem_u.md)."""
    return np.minimum(theorem_u_quadratic(tail_energy), theorem_u_oscillation(tail_energy))


def theorem_u_reference(reference_gap, reference_tail_energy, total_weight: float = 1.0):
    """Theorem U' for any reference logits ``R`` (targets with zeros):
    ``G*(d) <= G(R) + sqrt(2 * sum(pi)) * tau_d(R)``.

    Parameters
    ----------
    reference_gap : float
        ``G(R) = sum_i pi_i KL(p_i || softmax(r_i))`` of finite reference logits ``R``.
    reference_tail_energy : float
        ``T_d`` of ``D_pi^{1/2} R C`` (context-centred when the head has a bias).
    total_weight : float
        ``sum_i pi_i`` (1 for user targets).

    Notes
    -----
    ``G(Z) = G(R) + [L(Z) - L(R)]`` and Lemma O bounds the bracket by
    ``sum_i pi_i osc(z_i - r_i)``; the truncated SVD of ``D_pi^{1/2} R C`` and
    Cauchy–Schwarz give the rest. With ``R = log P`` (full support) ``G(R) = 0`` and this is
    the oscillation half of Theorem U. Proof: proofs/theorem_u.md (corollary U').
    """
    g = float(reference_gap)
    if not np.isfinite(g) or g < 0:
        raise ValueError(f"reference_gap must be finite and >= 0; got {reference_gap!r}")
    return g + SQRT2 * np.sqrt(float(total_weight) * _check_tail(reference_tail_energy))


# ---------------------------------------------------------------------------- Theorem L
def _phi(y: np.ndarray) -> np.ndarray:
    """``phi(y) = e^y - 1 - y`` (Lemma K), accurate for small ``|y|`` via its Taylor series."""
    y = np.asarray(y, dtype=np.float64)
    shape = y.shape
    y = np.atleast_1d(y)
    out = np.expm1(y) - y
    small = np.abs(y) < 0.5
    if np.any(small):
        ys = y[small]
        term = ys * ys / 2.0
        acc = term.copy()
        for n in range(3, 30):
            term = term * ys / n
            acc += term
        out[small] = acc
    return out.reshape(shape)


def segment_function(x):
    """``F(x) = x/sqrt(2) - (1 - exp(-sqrt(2) x))/2 = phi(-sqrt(2) x)/2`` for ``x >= 0``.

    ``F(x) = integral_0^x (x - u) exp(-sqrt(2) u) du``: the lower bound of Theorem L on
    ``KL(p || softmax(log p + delta))`` per unit of ``min_j p_j`` when ``||C delta|| = x``.
    ``F(x) ~ x^2/2`` as ``x -> 0`` and ``~ x/sqrt(2)`` as ``x -> inf``; computed without
    cancellation for small ``x``. Proof: proofs/theorem_l.md (sympy checks the integral);
    tested equal to :func:`bottleneck.symbolic.segment_function_expr`.
    """
    x = np.asarray(x, dtype=np.float64)
    if np.any(~np.isfinite(x)) or np.any(x < 0):
        raise ValueError("segment_function needs finite x >= 0")
    out = 0.5 * _phi(-SQRT2 * x)
    return out if out.ndim else float(out)


def theorem_l(tail_energy: float, weights, min_probs) -> float:
    """Certified lower bound of Theorem L:
    ``G*(d) >= min_k pi_k m_k F(tau_d / sqrt(pi_k))``.

    Parameters
    ----------
    tail_energy : float
        ``T_d = tau_d^2`` of ``A_pi`` (``Ã_pi`` with bias).
    weights : array_like, shape (N,)
        ``pi_k > 0`` (need not sum to 1, as for Lemma R restrictions).
    min_probs : array_like, shape (N,)
        ``m_k = min_j p_kj > 0`` (full support).

    Returns
    -------
    float
        A lower bound on ``G*(d)``, 0 iff ``T_d = 0``.

    Notes
    -----
    For any rank-``d`` head, ``D = Z C - A`` has ``sum_i pi_i ||d_i||^2 >= T_d``
    (Eckart–Young–Mirsky). Along ``t -> a_i + t d_i`` the KL has second derivative
    ``Var_{q_t}(d_i) >= m_i exp(-sqrt(2) t ||d_i||) ||d_i||^2``, which integrates to
    ``KL_i >= m_i F(||d_i||)``. ``v -> F(sqrt v)`` is concave, so the worst split of the
    energy over rows puts it on a single row.

    docs/theory.md states the bound as ``sup_{s in (0,1]} (1/s) min_k pi_k m_k F(s tau/sqrt(pi_k))``;
    since ``F(x)/x`` is increasing, the supremum is attained at ``s = 1``, which is the form
    computed here (same value; proofs/theorem_l.md, step 5, checked with sympy).
    Theorem L of docs/theory.md; proof: proofs/theorem_l.md.
    """
    T = float(_check_tail(tail_energy))
    w = np.asarray(weights, dtype=np.float64)
    m = np.asarray(min_probs, dtype=np.float64)
    if w.shape != m.shape or w.ndim != 1 or w.size == 0:
        raise ValueError(
            f"weights and min_probs must be 1-D of equal length; got {w.shape}, {m.shape}"
        )
    if np.any(~(w > 0)) or np.any(~np.isfinite(w)):
        raise ValueError("weights must be finite and > 0")
    if np.any(~(m > 0)) or np.any(m > 1):
        raise ValueError("min_probs must lie in (0, 1] (Theorem L needs full support)")
    if T == 0.0:
        return 0.0
    tau = np.sqrt(T)
    return float(np.min(w * m * segment_function(tau / np.sqrt(w))))


# ---------------------------------------------------------------------------- Theorem P
def _check_singular_values(s) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 1 or np.any(~np.isfinite(s)) or np.any(s < 0):
        raise ValueError("singular values must be a 1-D array of finite values >= 0")
    return np.sort(s)[::-1]


def theorem_p_paper(head_singular_values, d: int, mean_feature_norm: float) -> float:
    """The seed paper's Theorem 5.3 with its constant made explicit:
    ``G(W_d) - G(W*) <= 2 (sum_i pi_i ||x_i||) sqrt(sum_{k>d} sigma_k(W*)^2)``.

    ``W_d`` is the truncated SVD of the head ``W*`` on fixed features ``x_i``. Weaker than
    :func:`theorem_p_operator`; reported beside it. Theorem P of docs/theory.md;
    proof: proofs/theorem_p.md ([Godey2024] Thm 5.3, Lipschitz form of paper.md).
    """
    s = _check_singular_values(head_singular_values)
    d = _v.check_rank(d)
    return 2.0 * float(mean_feature_norm) * float(np.sqrt(np.sum(s[d:] ** 2)))


def theorem_p_operator(head_singular_values, d: int, mean_feature_norm: float) -> float:
    """Operator-norm form of Theorem P:
    ``G(W_d) - G(W*) <= sqrt(2) sigma_{d+1}(W*) sum_i pi_i ||x_i||``.

    From Lemma O (``osc(v) <= sqrt2 ||Cv|| <= sqrt2 ||v||``) and
    ``||(W_d - W*) x|| <= sigma_{d+1} ||x||``. Proof: proofs/theorem_p.md.
    """
    s = _check_singular_values(head_singular_values)
    d = _v.check_rank(d)
    sigma_next = float(s[d]) if d < s.size else 0.0
    return SQRT2 * sigma_next * float(mean_feature_norm)


def theorem_p_representation(logit_tail_energy, *, teacher: bool = False):
    """Representation-aware form of Theorem P:
    ``G*_X(d) - G(W*) <= sqrt(2) tau_X``, and ``<= min(tau_X^2/4, sqrt(2) tau_X)`` when the
    target is the teacher itself (``p_i = softmax(W* x_i)``, so ``G(W*) = 0``).

    ``tau_X^2`` is the tail energy of the weighted logit matrix ``D_pi^{1/2} X W*^T C``;
    the head ``W = V_d V_d^T W*`` is feasible. Proof: proofs/theorem_p.md.
    """
    if teacher:
        return theorem_u(logit_tail_energy)
    return theorem_u_oscillation(logit_tail_energy)


# ---------------------------------------------------------------------------- estimates
def estimate_e1(fisher_tail_energy):
    """Closed-form spectral estimate ``E_1(d) = 1/2 sum_{k>d} sigma_k^2(D_pi^{1/2} A D_pbar^{1/2})``.

    Not a bound: the rank-one (``pbar = pi^T P``) approximation of the Fisher weights in the
    second-order expansion of ``G`` (theory.md §3). Proof of the expansion:
    proofs/estimates.md.
    """
    return 0.5 * _check_tail(fisher_tail_energy)


# ---------------------------------------------------------------------------- explicit heads
#: Floors ``log max(P, floor)`` tried for targets with zeros, relative to the smallest
#: positive probability (U_trunc and the solver's truncated-SVD start use the best).
DEFAULT_FLOOR_FACTORS = (1.0, 1e-2, 1e-4)


def default_floors(target: Target) -> list[float]:
    """The floors of :data:`DEFAULT_FLOOR_FACTORS` for ``target`` (which has zeros)."""
    positive = np.asarray(target.probs)[np.asarray(target.probs) > 0]
    return [float(positive.min()) * f for f in DEFAULT_FLOOR_FACTORS]


def _reference_logits(target: Target, floor: float | None) -> np.ndarray:
    """``log P`` (full support) or ``log max(P, floor)``: finite logits close to the target."""
    if floor is None:
        return np.array(target.log_probs)
    return np.log(np.maximum(target.probs, floor))


def _context_centre(R: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(RC - 1 mu^T, mu)`` with ``mu = pi^T R C / sum(pi)`` (bias centring)."""
    Rc = centring_matrix_apply(R)
    mu = weights @ Rc / weights.sum()
    return Rc - mu, mu


def truncated_svd_head(
    target: Target,
    d: int,
    *,
    floor: float | None = None,
    method: str = "auto",
    return_factors: bool = False,
):
    """Logits of the truncated-SVD head: ``Z = D_pi^{-1/2} (R_pi)_d`` (``+ 1 mu^T`` with bias).

    ``R = log P`` for full support, else ``log max(P, floor)``; ``R_pi = D_pi^{1/2} R C``
    (context-centred when ``target.bias``). ``Z`` has rank ``<= d`` (``d + 1`` with the bias
    row), so its exact gap ``U_trunc = target.gap(Z)`` is a certified upper bound on
    ``G*(d)`` (Theorem U, proofs/theorem_u.md).

    Returns
    -------
    Z : ndarray, shape (N, V)
    spectrum : TopSpectrum
        Top ``d + 1`` singular values of ``R_pi``, for the tail energy.

    With ``return_factors`` returns instead the balanced factors ``(H, W, mu)`` with
    ``Z = H W^T + 1 mu^T``, ``H = D_pi^{-1/2} U_d S_d^{1/2}``, ``W = V_d S_d^{1/2}`` (the
    solver's start; the same gauge as :func:`factored_truncated_head`).
    """
    d = _v.check_rank(d)
    if floor is None and not target.has_full_support:
        raise ValueError(
            "target has zeros: pass floor > 0 to build reference logits log max(P, floor)"
        )
    R = _reference_logits(target, floor)
    w = np.asarray(target.weights)
    if target.bias:
        Rc, mu = _context_centre(R, w)
    else:
        Rc, mu = centring_matrix_apply(R), None
    sq = np.sqrt(w)[:, None]
    Rpi = Rc * sq
    noise = (
        log_prob_noise_scale(target) if floor is None else float(np.sqrt(w @ (R * R).sum(axis=1)))
    )
    U, s, Vt, spec = truncated_svd_with_spectrum(
        Rpi, min(d, min(Rpi.shape)), method=method, noise_scale=noise
    )
    if return_factors:
        r = np.sqrt(s)
        return (U * r) / sq, Vt.T * r, mu
    Z = (U * s) @ Vt / sq
    if mu is not None:
        Z = Z + mu
    return Z, spec


def factored_truncated_head(target: Target, d: int):
    """Truncated-SVD head of a factored target, as factors: ``(H, W, b, T_d)``.

    ``Z = H W^T + 1 b^T = D_pi^{-1/2} (A_pi)_d`` (``+ 1 mu^T`` with a student bias) computed
    from :func:`bottleneck.spectrum.factored_spectrum`, never as an N x V matrix; its gap
    is the certified upper bound ``U_trunc`` of Theorem U (proofs/theorem_u.md).
    """
    d = _v.check_rank(d)
    fs = factored_spectrum(target)
    k = min(d, int(np.count_nonzero(fs.values)))
    w = np.asarray(target.weights)
    r = np.sqrt(fs.values[:k])
    H = fs.left_basis @ (fs.U[:, :k] * r) / np.sqrt(w)[:, None]  # balanced: U S^1/2, V S^1/2
    W = fs.right_basis @ (fs.Vt[:k].T * r)
    mu = None
    if target.bias:
        X, Wt, b = target.factors
        xbar = (w @ X) / w.sum()
        mu = (Wt - Wt.mean(axis=0)) @ xbar
        if b is not None:
            mu = mu + (b - b.mean())
    return H, W, mu, fs.spectrum.tail(d)


def _fixed_feature_bounds(target: Target, d: int) -> dict:
    """Theorem P family for a factored teacher target (features X, head W*, bias b).

    The target is the teacher itself (``G(W*) = 0``), so each form bounds the fixed-feature
    optimum ``G*_X(d) >= G*(d)``: certified upper bounds on ``G*(d)`` as well. Used only
    when the teacher has no bias or the student has one (``W_d x + b`` must be feasible).
    """
    X, W, _ = target.factors
    w = np.asarray(target.weights)
    mean_norm = float(w @ np.linalg.norm(X, axis=1)) / float(w.sum())
    s_head = np.linalg.svd(W, compute_uv=False)
    tail_x = factored_svd(
        np.sqrt(w)[:, None] * X, W - W.mean(axis=0), shape=target.shape
    ).spectrum.tail(d)
    scale = float(w.sum())  # the Theorem P forms are stated for weights summing to 1
    proof = "proofs/theorem_p.md"
    return {
        "P_paper": BoundValue(
            "P_paper",
            scale * theorem_p_paper(s_head, d, mean_norm),
            "upper",
            "Theorem P, the seed paper's form 2 E||x|| sqrt(sum_{k>d} sigma_k(W*)^2)",
            proof,
        ),
        "P_operator": BoundValue(
            "P_operator",
            scale * theorem_p_operator(s_head, d, mean_norm),
            "upper",
            "Theorem P, operator form sqrt(2) sigma_{d+1}(W*) E||x||",
            proof,
        ),
        "P_representation": BoundValue(
            "P_representation",
            float(theorem_p_representation(tail_x, teacher=True)),
            "upper",
            "Theorem P, representation-aware min(tau_X^2/4, sqrt(2) tau_X)",
            proof,
        ),
    }


# ---------------------------------------------------------------------------- Lemma R
def restriction_candidates(
    target: Target, d: int, max_candidates: int = 2
) -> list[tuple[str, np.ndarray]]:
    """Vocabulary subsets ``S`` tried by Lemma R: the top-``k`` tokens of ``pbar = pi^T P``.

    The full vocabulary, then sizes ``k = (d + 2) * 4^j <= V/2`` (at most ``max_candidates``
    of them); for targets with zeros also a token set that ``>= d + 1`` contexts all give
    positive mass (:func:`_support_biclique`), so a full-support restriction exists. Subsets with ``k <= d + 1`` are useless (their log-prob rank is ``<= d``);
    subsets above ``V/2`` rarely raise ``min_j p_ij`` enough to pay for another SVD.
    Proof that any subset gives a valid lower bound: proofs/lemma_r.md.
    """
    V = target.vocab_size
    pbar = target.mean_probs()
    order = np.argsort(-pbar, kind="stable")
    out = [("all tokens", np.arange(V))]
    k = (d + 2) * 4
    while k <= V // 2 and len(out) <= max_candidates:
        out.append((f"top-{k} tokens", np.sort(order[:k])))
        k *= 4
    if not target.has_full_support:
        S = _support_biclique(target, d)
        if S is not None:
            out.append((f"{S.size} tokens shared by many supports", S))
    return out


def _support_biclique(target: Target, d: int, max_tokens: int | None = None):
    """Tokens ``S`` (``|S| >= d + 2``) that at least ``d + 1`` contexts all give positive mass.

    Greedy: start from the ``2(d + 2)`` tokens in the most supports and drop, one at a
    time, the token whose removal most enlarges the set of contexts containing all of
    ``S``. Restricting to ``S`` and those contexts gives a full-support target of rank up
    to ``min(|I|, |S| - 1) > d`` (Lemma R), so Theorem L can be positive. None if none found.
    """
    B = target.support()
    counts = np.asarray(B.sum(axis=0)).ravel()
    k0 = min(max_tokens or 2 * (d + 2), target.vocab_size)
    S = list(np.argsort(-counts, kind="stable")[:k0])
    Bc = B.tocsc()
    while True:
        cols = Bc[:, S]
        full = np.asarray(cols.sum(axis=1)).ravel()
        if np.count_nonzero(full == len(S)) >= d + 1:
            return np.sort(np.array(S))
        if len(S) <= d + 2:
            return None
        best, best_gain = None, -1
        for j, t in enumerate(S):
            others = full - np.asarray(cols[:, j].todense()).ravel()
            gain = np.count_nonzero(others == len(S) - 1)
            if gain > best_gain:
                best, best_gain = t, gain
        S.remove(best)


def _lemma_r_lower(
    target: Target, d: int, method: str, full_tail: float | None = None
) -> tuple[float, str]:
    """Best Theorem L value over the Lemma R candidates, and which subset won.

    ``full_tail`` is ``T_d`` of the whole target when already known (full support).
    """
    best, label = 0.0, "none (no full-support restriction)"
    for name, S in restriction_candidates(target, d):
        if S.size == target.vocab_size and target.has_full_support:
            rows = np.arange(target.n_contexts)
        else:
            rows = np.flatnonzero((target.columns(S)[0] > 0).all(axis=1))
        if rows.size == 0:
            continue
        whole = S.size == target.vocab_size and rows.size == target.n_contexts
        sub = target if whole else target.restrict(S, rows)
        if d >= min(sub.shape):
            continue
        if whole and full_tail is not None:
            T = full_tail
        else:
            Api = centred_log_prob_matrix(sub)
            T = top_singular_values(
                Api, d + 1, method=method, noise_scale=log_prob_noise_scale(sub)
            ).tail(d)
        m = sub.min_probs()
        val = theorem_l(T, sub.weights, m)
        if val > best:
            best, label = val, f"{name}, {rows.size}/{target.n_contexts} contexts"
    return best, label


# ---------------------------------------------------------------------------- assembly
_PROOF = {
    "U": "proofs/theorem_u.md",
    "L": "proofs/theorem_l.md",
    "R": "proofs/lemma_r.md",
    "E": "proofs/estimates.md",
}


def bounds(
    target: Target,
    d: int,
    *,
    method: str = "auto",
    floors=None,
    solve: bool = False,
    solve_kwargs=None,
) -> Sandwich:
    """Every certified bound and closed-form estimate of ``G*(d)`` for a target.

    Parameters
    ----------
    target : Target
    d : int
        Rank of the head, ``>= 0``.
    method : {"auto", "exact", "lanczos", "randomized"}
        How top singular values are computed (:mod:`bottleneck.spectrum`).
    floors : sequence of float, optional
        Only for targets with zeros: reference logits ``log max(P, floor)`` tried for the
        upper bounds (default: ``min positive p`` times ``1, 1e-2, 1e-4``).
    solve : bool
        Also run :func:`bottleneck.solve` (its gap, an explicit head, joins the certified
        upper bounds as ``solver``) and :func:`bottleneck.fisher_estimate` (``E_F``), and
        report the ratios ``E_1/solver`` and ``E_F/solver`` in ``estimates``.
    solve_kwargs : dict, optional
        Passed to :func:`bottleneck.solve`.

    Returns
    -------
    Sandwich
        ``lower <= G*(d) <= upper``. ``details`` holds, by name:

        - ``U_trunc`` (upper): exact gap of the truncated-SVD head (Theorem U);
        - ``U_quad``, ``U_osc`` (upper): ``T_d/4`` and ``sqrt(2 T_d)`` (Theorem U; full support);
        - ``U_ref`` (upper): ``G(R) + sqrt(2) tau_d(R)`` (Theorem U'; targets with zeros);
        - ``L_thm`` (lower): Theorem L on the whole target (full support);
        - ``L_restricted`` (lower): Theorem L on the best Lemma R restriction;
        - ``E_1`` (estimate): closed-form spectral estimate (full support).

    Notes
    -----
    ``T_d`` and ``U_trunc`` use ``Ã`` when ``target.bias``. For ``d >= rank`` every value is
    exactly 0. Proofs: proofs/theorem_u.md, proofs/theorem_l.md, proofs/lemma_r.md,
    proofs/estimates.md.

    Examples
    --------
    >>> import bottleneck as bn
    >>> target, _ = bn.targets.synthetic(50, 40, spectrum="power", decay=1.0, scale=4.0, seed=0)
    >>> s = bn.bounds(target, d=5)
    >>> s.lower <= s.details["U_trunc"].value <= s.upper + 1e-12
    True
    """
    if not isinstance(target, Target):
        raise ValueError(f"target must be a bottleneck.Target; got {type(target).__name__}")
    d = _v.check_rank(d)
    details: dict[str, BoundValue] = {}
    estimates: dict[str, float] = {}

    if target.has_factors:
        H, Wd, mu, T = factored_truncated_head(target, d)
        u_trunc = 0.0 if T == 0.0 else target.gap_factors(H, Wd, mu)
        if target.factors[2] is None or target.bias:  # W_d x + b is a rank-d head only then
            details.update(_fixed_feature_bounds(target, d))
    if target.has_full_support:
        if not target.has_factors:
            Z, spec = truncated_svd_head(target, d, method=method)
            T = spec.tail(d)
            u_trunc = 0.0 if T == 0.0 else target.gap(Z)
        details["U_trunc"] = BoundValue(
            "U_trunc", u_trunc, "upper", "Theorem U (explicit truncated-SVD head)", _PROOF["U"]
        )
        details["U_quad"] = BoundValue(
            "U_quad",
            float(theorem_u_quadratic(T)),
            "upper",
            "Theorem U (Lemma S): T_d/4",
            _PROOF["U"],
        )
        details["U_osc"] = BoundValue(
            "U_osc",
            float(theorem_u_oscillation(T)),
            "upper",
            "Theorem U (Lemma O): sqrt(2 T_d)",
            _PROOF["U"],
        )
        m = target.min_probs()
        details["L_thm"] = BoundValue(
            "L_thm", theorem_l(T, target.weights, m), "lower", "Theorem L", _PROOF["L"]
        )
        if T == 0.0:
            e1 = 0.0
        elif target.has_factors:
            e1 = float(estimate_e1(factored_spectrum(target, fisher=True).spectrum.tail(d)))
        else:
            Fm = fisher_weighted_matrix(target)
            e1 = float(
                estimate_e1(
                    top_singular_values(Fm, min(d + 1, min(Fm.shape)), method=method).tail(d)
                )
            )
        details["E_1"] = BoundValue(
            "E_1", e1, "estimate", "closed-form spectral estimate (not a bound)", _PROOF["E"]
        )
        estimates["E_1"] = e1
    else:
        if floors is None:
            floors = default_floors(target)
        best_trunc, best_ref = (np.inf, ""), (np.inf, "")
        for fl in floors:
            if not (fl > 0 and np.isfinite(fl)):
                raise ValueError(f"floors must be finite and > 0; got {fl!r}")
            Z, spec = truncated_svd_head(target, d, floor=fl, method=method)
            g_trunc = target.gap(Z)
            R = _reference_logits(target, fl)
            g_ref = float(
                theorem_u_reference(target.gap(R), spec.tail(d), float(np.sum(target.weights)))
            )
            if g_trunc < best_trunc[0]:
                best_trunc = (g_trunc, f"floor {fl:.3g}")
            if g_ref < best_ref[0]:
                best_ref = (g_ref, f"floor {fl:.3g}")
        details["U_trunc"] = BoundValue(
            "U_trunc",
            best_trunc[0],
            "upper",
            "Theorem U (explicit truncated-SVD head of log max(P, floor))",
            _PROOF["U"],
            best_trunc[1],
        )
        details["U_ref"] = BoundValue(
            "U_ref",
            best_ref[0],
            "upper",
            "Theorem U' (reference logits): G(R) + sqrt(2) tau_d(R)",
            _PROOF["U"],
            best_ref[1],
        )

    lr, label = _lemma_r_lower(target, d, method, full_tail=T if target.has_full_support else None)
    details["L_restricted"] = BoundValue(
        "L_restricted", lr, "lower", "Theorem L on a Lemma R restriction", _PROOF["R"], label
    )

    if solve:
        from .fisher import _fisher_value, fisher_solution
        from .solver import solve as _solve

        d_eff = min(d, min(target.shape))
        kwargs = dict(solve_kwargs or {})
        # one Fisher solution serves E_F and the solver's Fisher start
        Zf = fisher_solution(target, d_eff, max_seconds=kwargs.get("max_seconds"))
        if kwargs.get("bias") in (None, target.bias):
            kwargs.setdefault("fisher_logits", Zf)
        sol = _solve(target, d_eff, **kwargs)
        flag = "converged" if sol.converged else "NOT converged"
        details["solver"] = BoundValue(
            "solver",
            sol.gap,
            "solver",
            "gap of the solver's explicit head (certified upper)",
            "docs/theory.md §4",
            f"{flag}, grad {sol.grad_norm:.1e}, {sol.iterations} it",
        )
        ef = _fisher_value(target, Zf)
        details["E_F"] = BoundValue(
            "E_F", ef, "estimate", "second-order (Fisher) estimate (not a bound)", _PROOF["E"]
        )
        estimates["E_F"] = ef
        for name in ("E_1", "E_F"):
            if name in estimates:
                estimates[f"{name}/solver"] = (
                    estimates[name] / sol.gap
                    if sol.gap > 0
                    else (1.0 if estimates[name] == 0 else np.inf)
                )

    lower = max(b.value for b in details.values() if b.kind == "lower")
    upper = min(b.value for b in details.values() if b.kind in ("upper", "solver"))
    return Sandwich(
        d=d,
        bias=target.bias,
        lower=lower,
        upper=upper,
        entropy=target.entropy(),
        estimates=estimates,
        details=details,
    )


def bounds_from_spectrum(
    singular_values,
    d: int,
    *,
    frobenius_sq: float | None = None,
    weights=None,
    min_probs=None,
    fisher_singular_values=None,
    bias: bool = False,
) -> Sandwich:
    """Certified bounds on ``G*(d)`` from the singular values of ``A_pi`` alone.

    Theorem U (proofs/theorem_u.md), Theorem L (proofs/theorem_l.md, needs ``weights`` and
    ``min_probs``) and the estimate E_1 (proofs/estimates.md), from ``T_d`` computed as in
    :func:`bottleneck.spectrum.tail_from_top` (proofs/eckart_young_weighted.md).

    Parameters
    ----------
    singular_values : array_like, shape (k,)
        Singular values of ``A_pi`` (``Ã_pi`` for a head with bias), any order. If
        ``frobenius_sq`` is None they must be all the non-zero ones.
    d : int
    frobenius_sq : float, optional
        ``||A_pi||_F^2`` when only the top ``k >= d`` values are given.
    weights, min_probs : array_like, shape (N,), optional
        ``pi_i`` and ``m_i = min_j p_ij``: with both, Theorem L gives a lower bound;
        otherwise the lower bound is the trivial ``0`` (``> 0`` needs these constants).
    fisher_singular_values : array_like, optional
        Singular values of ``D_pi^{1/2} A D_pbar^{1/2}`` for the estimate ``E_1``.
    bias : bool
        Recorded in the result.

    Returns
    -------
    Sandwich
        ``U_quad``, ``U_osc`` (Theorem U), ``L_thm`` (Theorem L) or ``L_trivial``, and
        ``E_1`` if requested; ``entropy`` is None.
    """
    d = _v.check_rank(d)
    s = _check_singular_values(singular_values)
    if frobenius_sq is None:
        T = float(np.sum(s[d:] ** 2))
    else:
        if not np.isfinite(frobenius_sq) or frobenius_sq < 0:
            raise ValueError("frobenius_sq must be finite and >= 0")
        if float(np.sum(s**2)) > frobenius_sq * (1 + 1e-12) + 1e-300:
            raise ValueError(
                "frobenius_sq is smaller than the sum of the given squared singular values"
            )
        T = tail_from_top(s, frobenius_sq, d)
    details = {
        "U_quad": BoundValue(
            "U_quad",
            float(theorem_u_quadratic(T)),
            "upper",
            "Theorem U (Lemma S): T_d/4",
            _PROOF["U"],
        ),
        "U_osc": BoundValue(
            "U_osc",
            float(theorem_u_oscillation(T)),
            "upper",
            "Theorem U (Lemma O): sqrt(2 T_d)",
            _PROOF["U"],
        ),
    }
    if weights is not None and min_probs is not None:
        details["L_thm"] = BoundValue(
            "L_thm", theorem_l(T, weights, min_probs), "lower", "Theorem L", _PROOF["L"]
        )
    else:
        details["L_trivial"] = BoundValue(
            "L_trivial",
            0.0,
            "lower",
            "G >= 0 (pass weights and min_probs for Theorem L)",
            _PROOF["L"],
        )
    estimates = {}
    if fisher_singular_values is not None:
        f = _check_singular_values(fisher_singular_values)
        e1 = float(estimate_e1(np.sum(f[d:] ** 2)))
        details["E_1"] = BoundValue(
            "E_1", e1, "estimate", "closed-form spectral estimate (not a bound)", _PROOF["E"]
        )
        estimates["E_1"] = e1
    lower = max(b.value for b in details.values() if b.kind == "lower")
    upper = min(b.value for b in details.values() if b.kind == "upper")
    return Sandwich(
        d=d, bias=bias, lower=lower, upper=upper, entropy=None, estimates=estimates, details=details
    )


class _CallableModule(types.ModuleType):
    """Lets ``bottleneck.bounds`` be both this module and the function :func:`bounds`.

    The issue tracker fixes both public names: ``bottleneck.bounds(target, d)`` and the
    module ``bottleneck.bounds`` of bound functions (``bottleneck.bounds.theorem_l`` ...).
    """

    def __call__(self, target: Target, d: int, **kwargs) -> Sandwich:
        return bounds(target, d, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
