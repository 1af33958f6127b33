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
:func:`theorem_b`                 Theorem B, one block        proofs/theorem_b.md
:func:`theorem_b_huber`           Corollary B' (Huber form)   proofs/theorem_b.md
:func:`verify_theorem_b`          Theorem B, a certificate    proofs/theorem_b.md
:func:`search_theorem_b`          Theorem B, the search       proofs/theorem_b.md
================================  ==========================  =================================
"""

from __future__ import annotations

import numpy as np

from . import _validation as _v
from .block_search import search_theorem_b
from .block_spectral import (
    DEFAULT_MAX_WORK,
    Certificate,
    CertificateError,
    load_certificate,
    save_certificate,
    theorem_b,
    theorem_b_huber,
    verify_theorem_b,
)
from .explicit import (
    default_floors,
    factored_truncated_head,
    reference_logits,
    truncated_svd_gap,
    truncated_svd_head,
)
from .restriction import full_support_restrictions, restriction_candidates
from .sandwich import BoundValue, Sandwich
from .spectrum import factored_svd, fisher_tail_energy, tail_from_top, tall_qr
from .spectrum import tail_energy as target_tail_energy
from .target import Target

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
    "theorem_b",
    "theorem_b_huber",
    "verify_theorem_b",
    "search_theorem_b",
    "Certificate",
    "CertificateError",
    "save_certificate",
    "load_certificate",
    "truncated_svd_head",
    "factored_truncated_head",
    "restriction_candidates",
    "bounds",
    "upper_bounds",
    "lower_bounds",
    "theorem_b_lower",
    "spectral_estimates",
    "solver_values",
    "sandwich_of",
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

    docs/theory.md states the bound as
    ``sup_{s in (0,1]} (1/s) min_k pi_k m_k F(s tau/sqrt(pi_k))``; since ``F(x)/x`` is
    increasing, the supremum is attained at ``s = 1``, which is the form computed here
    (same value; proofs/theorem_l.md, step 5, checked with sympy).
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
    s = _v.as_real_array(s, "singular values")
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
    """Closed-form spectral estimate
    ``E_1(d) = 1/2 sum_{k>d} sigma_k^2(D_pi^{1/2} A D_pbar^{1/2})``.

    Not a bound: the rank-one (``pbar = pi^T P``) approximation of the Fisher weights in the
    second-order expansion of ``G`` (theory.md §3). Proof of the expansion:
    proofs/estimates.md.
    """
    return 0.5 * _check_tail(fisher_tail_energy)


# ---------------------------------------------------------------------------- assembly
_PROOF = {
    "U": "proofs/theorem_u.md",
    "L": "proofs/theorem_l.md",
    "B": "proofs/theorem_b.md",
    "R": "proofs/lemma_r.md",
    "E": "proofs/estimates.md",
}


def bounds(
    target: Target,
    d: int,
    *,
    method: str = "auto",
    floors=None,
    solution=None,
    fisher_estimate: float | None = None,
    certificate_work: float = DEFAULT_MAX_WORK,
    progress: bool = False,
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
        upper bounds (default: :func:`bottleneck.explicit.default_floors`).
    solution : Solution, optional
        A numerical optimum for this target and ``d`` (:func:`bottleneck.solve`): its gap,
        that of an explicit head, joins the upper bounds as ``solver``.
        ``bottleneck.bounds(target, d, solve=True)`` computes it (and ``fisher_estimate``).
    fisher_estimate : float, optional
        ``E_F`` (:func:`bottleneck.fisher_estimate`); with ``solution``, ``estimates`` also
        holds the ratios ``E_1/solver`` and ``E_F/solver``.
    certificate_work : float
        Work budget of Theorem B's search (:func:`search_theorem_b`, default
        :data:`~bottleneck.block_spectral.DEFAULT_MAX_WORK`); machine-independent.
    progress : bool
        Report each candidate of Theorem B's search as it finishes (for large targets).
        Work budget of Theorem B's search (:func:`search_theorem_b`; machine-independent),
        and whether it reports each candidate as it finishes (for large targets).

    Returns
    -------
    Sandwich
        ``lower <= G*(d) <= upper``. ``details`` holds, by name:

        - ``U_trunc`` (upper): exact gap of the truncated-SVD head (Theorem U);
        - ``U_quad``, ``U_osc`` (upper): ``T_d/4`` and ``sqrt(2 T_d)`` (Theorem U; full support);
        - ``U_ref`` (upper): ``G(R) + sqrt(2) tau_d(R)`` (Theorem U'; targets with zeros);
        - ``P_*`` (upper): Theorem P for a factored teacher target;
        - ``L_thm`` (lower): Theorem L on the whole target (full support);
        - ``L_restricted`` (lower): Theorem L on the best Lemma R restriction;
        - ``L_B`` (lower): Theorem B, block-spectral, any storage (zeros included); its
          ``certificate`` re-verifies with :func:`verify_theorem_b`;
        - ``E_1`` (estimate): closed-form spectral estimate (full support).

        ``Sandwich.lower_name`` / ``upper_name`` say which bound won.

    Notes
    -----
    Steps: :func:`upper_bounds`, :func:`lower_bounds`, :func:`spectral_estimates`,
    :func:`solver_values`. ``T_d`` and ``U_trunc`` use ``Ã`` when ``target.bias``; for
    ``d >= rank`` every value is 0. Proofs: proofs/theorem_{u,l,b}.md, proofs/lemma_r.md,
    proofs/estimates.md.

    Examples
    --------
    >>> import bottleneck as bn
    >>> target, _ = bn.targets.synthetic(50, 40, spectrum="power", decay=1.0, scale=4.0, seed=0)
    >>> s = bn.bounds(target, d=5)
    >>> s.lower <= s.details["U_trunc"].value <= s.upper + 1e-12
    True
    """
    d = _checked_arguments(target, d, floors, solution, fisher_estimate)
    details, T = upper_bounds(target, d, method=method, floors=floors)
    details.update(
        lower_bounds(
            target, d, T, method=method, certificate_work=certificate_work, progress=progress
        )
    )
    details.update(spectral_estimates(target, d, T, method=method))
    details.update(solver_values(solution, fisher_estimate))
    return sandwich_of(details, d=d, bias=target.bias, entropy=target.entropy())


def _checked_arguments(target, d, floors, solution, fisher_estimate) -> int:
    """``d`` as an int, after checking every argument of :func:`bounds` (ValueError naming it)."""
    if not isinstance(target, Target):
        raise ValueError(f"target must be a bottleneck.Target; got {type(target).__name__}")
    d = _v.check_rank(d)
    _v.check_bounds_arguments(
        target, d, floors=floors, solution=solution, fisher_estimate=fisher_estimate
    )
    return d


def upper_bounds(
    target: Target, d: int, *, method: str = "auto", floors=None
) -> tuple[dict[str, BoundValue], float | None]:
    """The upper bounds of Theorems U and P, and ``T_d`` (None for a target with zeros).

    Full support: ``U_trunc`` (the truncated-SVD head's gap) and the closed forms
    ``U_quad``, ``U_osc`` of ``T_d``; with zeros: the best ``U_trunc`` and ``U_ref`` over
    ``floors`` (Corollary U'). A factored teacher target adds the Theorem P forms when
    ``W_d x + b`` is a rank-``d`` head (the teacher has no bias or the student has one).
    """
    details: dict[str, BoundValue] = {}
    if target.has_factors and (target.factors[2] is None or target.bias):
        details.update(_fixed_feature_bounds(target, d))
    if not target.has_full_support:
        details.update(_reference_bounds(target, d, method, floors))
        return details, None
    u_trunc, T = truncated_svd_gap(target, d, method=method)
    details["U_trunc"] = BoundValue(
        "U_trunc", u_trunc, "upper", "Theorem U (explicit truncated-SVD head)", _PROOF["U"]
    )
    details.update(_theorem_u_values(T))
    return details, T


def _theorem_u_values(T: float) -> dict[str, BoundValue]:
    """``U_quad = T_d/4`` and ``U_osc = sqrt(2 T_d)`` (Theorem U)."""
    return {
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


def _reference_bounds(target: Target, d: int, method: str, floors) -> dict[str, BoundValue]:
    """``U_trunc`` and ``U_ref`` of a target with zeros: the best over the reference logits
    ``R = log max(P, floor)`` for each floor (Theorem U and Corollary U')."""
    if floors is None:
        floors = default_floors(target)
    best_trunc, best_ref = (np.inf, ""), (np.inf, "")
    for fl in floors:
        if not (fl > 0 and np.isfinite(fl)):
            raise ValueError(f"floors must be finite and > 0; got {fl!r}")
        Z, spec = truncated_svd_head(target, d, floor=fl, method=method)
        g_trunc = target.gap(Z)
        R = reference_logits(target, fl)
        g_ref = float(
            theorem_u_reference(target.gap(R), spec.tail(d), float(np.sum(target.weights)))
        )
        if g_trunc < best_trunc[0]:
            best_trunc = (g_trunc, f"floor {fl:.3g}")
        if g_ref < best_ref[0]:
            best_ref = (g_ref, f"floor {fl:.3g}")
    return {
        "U_trunc": BoundValue(
            "U_trunc",
            best_trunc[0],
            "upper",
            "Theorem U (explicit truncated-SVD head of log max(P, floor))",
            _PROOF["U"],
            best_trunc[1],
        ),
        "U_ref": BoundValue(
            "U_ref",
            best_ref[0],
            "upper",
            "Theorem U' (reference logits): G(R) + sqrt(2) tau_d(R)",
            _PROOF["U"],
            best_ref[1],
        ),
    }


def _fixed_feature_bounds(target: Target, d: int) -> dict:
    """Theorem P family for a factored teacher target (features X, head W*, bias b).

    The target is the teacher itself (``G(W*) = 0``), so each form bounds the fixed-feature
    optimum ``G*_X(d) >= G*(d)``: certified upper bounds on ``G*(d)`` as well. Used only
    when the teacher has no bias or the student has one (``W_d x + b`` must be feasible).
    """
    X, W, _ = target.factors
    w = np.asarray(target.weights)
    mean_norm = float(w @ np.linalg.norm(X, axis=1)) / float(w.sum())
    # both are d-independent and cost O(V D^2): computed once per target (a sweep over d
    # on SmolLM2's 49,152 x 576 head spent 11 s per rank on them); sigma(W*) from W*'s
    # triangular QR factor: the same values, without a V x D SVD
    s_head = target.cached(
        "head_singular_values",
        lambda: np.linalg.svd(tall_qr(W, basis=False)[1], compute_uv=False),
    )
    spec_x = target.cached(
        "theorem_p_feature_spectrum",
        lambda: (
            factored_svd(
                np.sqrt(w)[:, None] * X, W - W.mean(axis=0), shape=target.shape, bases=False
            ).spectrum
        ),
    )
    tail_x = spec_x.tail(d)
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


def lower_bounds(
    target: Target,
    d: int,
    T: float | None,
    *,
    method: str = "auto",
    certificate_work: float = DEFAULT_MAX_WORK,
    progress: bool = False,
) -> dict[str, BoundValue]:
    """The certified lower bounds: ``L_thm`` (Theorem L on the whole target; full support,
    ``T`` its ``T_d``), ``L_restricted`` (Theorem L, best Lemma R restriction) and ``L_B``
    (Theorem B with the certificate :func:`search_theorem_b` finds within
    ``certificate_work``, verified by :func:`verify_theorem_b`)."""
    details: dict[str, BoundValue] = {}
    if T is not None:
        details["L_thm"] = BoundValue(
            "L_thm",
            theorem_l(T, target.weights, target.min_probs()),
            "lower",
            "Theorem L",
            _PROOF["L"],
        )
    value, label = _lemma_r_lower(target, d, method, full_tail=T)
    details["L_restricted"] = BoundValue(
        "L_restricted", value, "lower", "Theorem L on a Lemma R restriction", _PROOF["R"], label
    )
    details["L_B"] = theorem_b_lower(target, d, max_work=certificate_work, progress=progress)
    return details


def theorem_b_lower(target: Target, d: int, **search_options) -> BoundValue:
    """``L_B``: Theorem B's lower bound with its certificate (searched, then verified).

    ``search_options`` go to :func:`search_theorem_b`; the value is what
    :func:`verify_theorem_b` recomputes from the target, never the search's own number.
    Proof: proofs/theorem_b.md.
    """
    cert = search_theorem_b(target, d, **search_options)
    value = verify_theorem_b(target, d, cert)
    return BoundValue(
        "L_B",
        value,
        "lower",
        "Theorem B (block-spectral)",
        _PROOF["B"],
        cert.describe(),
        certificate=cert,
    )


def _lemma_r_lower(
    target: Target, d: int, method: str, full_tail: float | None = None
) -> tuple[float, str]:
    """Best Theorem L value over the Lemma R restrictions, and which one won.

    ``full_tail`` is ``T_d`` of the whole target when already known (full support).
    """
    best, label = 0.0, "none (no full-support restriction)"
    for name, sub, whole in full_support_restrictions(target, d):
        if whole and full_tail is not None:
            T = full_tail
        else:
            T = target_tail_energy(sub, d, method=method)
        val = theorem_l(T, sub.weights, sub.min_probs())
        if val > best:
            best, label = val, name
    return best, label


def spectral_estimates(
    target: Target, d: int, T: float | None, *, method: str = "auto"
) -> dict[str, BoundValue]:
    """The closed-form estimate ``E_1`` of a full-support target (``T`` its ``T_d``); none
    for a target with zeros (``T`` None)."""
    if T is None:
        return {}
    e1 = 0.0 if T == 0.0 else float(estimate_e1(fisher_tail_energy(target, d, method=method)))
    return {
        "E_1": BoundValue(
            "E_1", e1, "estimate", "closed-form spectral estimate (not a bound)", _PROOF["E"]
        )
    }


def solver_values(solution=None, fisher_estimate: float | None = None) -> dict[str, BoundValue]:
    """``solver`` (the gap of a computed explicit head, a certified upper bound) and ``E_F``
    (the Fisher estimate), for whichever of the two is given.

    ``solution`` is any result with ``gap``, ``success``, ``status``, ``grad_norm`` and
    ``iterations`` (a :class:`bottleneck.Solution`).
    """
    details: dict[str, BoundValue] = {}
    if solution is not None:
        flag = "converged" if solution.success else f"NOT converged ({solution.status})"
        details["solver"] = BoundValue(
            "solver",
            solution.gap,
            "solver",
            "gap of the solver's explicit head (certified upper)",
            "docs/theory.md §4",
            f"{flag}, grad {solution.grad_norm:.1e}, {solution.iterations} it",
        )
    if fisher_estimate is not None:
        details["E_F"] = BoundValue(
            "E_F",
            float(fisher_estimate),
            "estimate",
            "second-order (Fisher) estimate (not a bound)",
            _PROOF["E"],
        )
    return details


def sandwich_of(
    details: dict[str, BoundValue], *, d: int, bias: bool, entropy: float | None
) -> Sandwich:
    """The :class:`Sandwich` of named values: ``lower`` the largest lower bound, ``upper``
    the smallest upper bound (explicit heads included), ``estimates`` every estimate and,
    when a solver value is present, each estimate's ratio to it."""
    estimates = {name: b.value for name, b in details.items() if b.kind == "estimate"}
    if "solver" in details:
        gap = details["solver"].value
        for name, value in list(estimates.items()):
            estimates[f"{name}/solver"] = (
                value / gap if gap > 0 else (1.0 if value == 0 else np.inf)
            )
    lower = max(b.value for b in details.values() if b.kind == "lower")
    upper = min(b.value for b in details.values() if b.kind in ("upper", "solver"))
    return Sandwich(
        d=d,
        bias=bias,
        lower=lower,
        upper=upper,
        entropy=entropy,
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
    vocab_size: int | None = None,
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
        They must be consistent with a target: ``sum(pi) <= 1`` and ``m_i <= 1/V``
        (``<= 1/2`` when ``vocab_size`` is not given), else ValueError (inconsistent
        constants could put Theorem L above Theorem U).
    fisher_singular_values : array_like, optional
        Singular values of ``D_pi^{1/2} A D_pbar^{1/2}`` for the estimate ``E_1``.
    bias : bool
        Recorded in the result.
    vocab_size : int, optional
        ``V``: checks ``m_i <= 1/V``.

    Returns
    -------
    Sandwich
        ``U_quad``, ``U_osc`` (Theorem U), ``L_thm`` (Theorem L) or ``L_trivial``, and
        ``E_1`` if requested; ``entropy`` is None.
    """
    d = _v.check_rank(d)
    bias = _v.check_bool(bias, "bias")
    T = _tail_of_spectrum(_check_singular_values(singular_values), d, frobenius_sq)
    details = _theorem_u_values(T)
    if weights is not None and min_probs is not None:
        _v.check_spectrum_constants(weights, min_probs, vocab_size)
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
    if fisher_singular_values is not None:
        f = _check_singular_values(fisher_singular_values)
        e1 = float(estimate_e1(np.sum(f[d:] ** 2)))
        details["E_1"] = BoundValue(
            "E_1", e1, "estimate", "closed-form spectral estimate (not a bound)", _PROOF["E"]
        )
    out = sandwich_of(details, d=d, bias=bias, entropy=None)
    if out.lower > out.upper:
        raise ValueError(
            f"the constants are inconsistent: Theorem L gives {out.lower!r} > Theorem U's "
            f"{out.upper!r}, which no target allows; check that singular_values are those of "
            "A_pi for these weights and min_probs"
        )
    return out


def _tail_of_spectrum(s: np.ndarray, d: int, frobenius_sq: float | None) -> float:
    """``T_d`` of decreasing singular values ``s``: all of them, or the top ones and
    ``||A_pi||_F^2`` (:func:`bottleneck.spectrum.tail_from_top`)."""
    if frobenius_sq is None:
        return float(np.sum(s[d:] ** 2))
    if not np.isfinite(frobenius_sq) or frobenius_sq < 0:
        raise ValueError("frobenius_sq must be finite and >= 0")
    if float(np.sum(s**2)) > frobenius_sq * (1 + 1e-12) + 1e-300:
        raise ValueError(
            "frobenius_sq is smaller than the sum of the given squared singular values"
        )
    return tail_from_top(s, frobenius_sq, d)
