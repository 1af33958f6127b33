"""Theorem B: the block-spectral certified lower bound on ``G*(d)`` and its certificates.

Statement (docs/theory.md §2, proof: proofs/theorem_b.md). Write ``w_ij = pi_i p_ij`` and
``phi_e(u) = e^{-u} - 1 + u``. A *block* is a context set ``I``, a token set ``J`` with
``p_ij > 0`` on ``I x J``, positive scalings ``s`` (on ``I``), ``t`` (on ``J``) and a
constant ``alpha > 0``; it *uses* the weight ``omega_ij = alpha max(r_ij, r_ij^2)`` with
``r_ij = s_i t_j``. Let ``B = diag(s) (log P)_IJ diag(t)``, projected:
``B' = B (I - t t^T/|t|^2)`` and, for a head with bias, ``B' <- (I - s s^T/|s|^2) B'``, with
singular values ``beta_1 >= beta_2 >= ...``. If the blocks' used weights add up to at most
``w`` on every entry, then

    G*(d) >= sum over blocks of  alpha * sum_{j > d} phi_e(beta_j).

Blocks may overlap (they split the weight); disjoint blocks each use at most ``w``. The
*Huber* family (the proposal of lower_bounds.md, made spectral) replaces ``alpha phi_e`` by
``huber_b(beta) = beta^2`` (``beta <= b/2``), ``b beta - b^2/4`` (beyond), with used weight
``b^2 / phi_e(b / r_ij)``; it is certified the same way and is never larger in our
measurements (proofs/theorem_b.md, "what did not help").

A :class:`Certificate` lists the blocks; :func:`verify_theorem_b` re-derives the value from
the target alone (checks every constraint, recomputes every SVD with a rounding margin) and
raises :class:`CertificateError` on anything that does not hold. :func:`search_theorem_b`
chooses the blocks: tilings of the context x token grid (sorted by weight and by token mass,
or random), block shapes near ``(k(d+1)) x (2k(d+1))``, the best ``alpha`` per block on a log
grid, the largest rank-one minorant ``s t^T`` of the admissible scalings, and further layers
on the weight left unused, within a time budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _validation as _v
from ._io import atomic_savez

__all__ = [
    "phi_even",
    "phi_even_inverse",
    "theorem_b",
    "theorem_b_huber",
    "admissible_scaling",
    "used_weight",
    "projected_block",
    "projected_stack",
    "Block",
    "Certificate",
    "CertificateError",
    "verify_theorem_b",
    "save_certificate",
    "load_certificate",
    "DEFAULT_BUDGET_SECONDS",
    "DEFAULT_MAX_WORK",
    "DEFAULT_MAX_ENTRIES",
]

FAMILIES = ("phi", "huber")
#: Default work budget of the certificate search (one tiling of an ``N x k`` grid into
#: ``m``-row blocks costs ``N k max(1, m/64)``, a packing ``N k / 4``): every candidate of a
#: small target, three or four tilings of the largest grid with small blocks, one when the
#: blocks are tall (large ``d``).
DEFAULT_MAX_WORK = 2**24
#: Default wall-clock safety cap of the certificate search (seconds).
DEFAULT_BUDGET_SECONDS = 30.0
#: Entries of the context x token grid the search materialises (top tokens by mass beyond it).
DEFAULT_MAX_ENTRIES = 2**22
_EPS = np.finfo(np.float64).eps
# Relative slack the search leaves below every weight constraint (the verifier tolerates
# none: it divides the value by the largest used/available ratio instead).
_SLACK = 1e-9
# Blocks of one shape the verifier stacks at once.
_VERIFY_CHUNK = 2048


# ---------------------------------------------------------------------------- scalar pieces
_SERIES = [(-1.0) ** k / math.factorial(k) for k in range(2, 24)]  # phi_e(u) = sum (-u)^k/k!


def phi_even(u):
    """``phi_e(u) = e^{-u} - 1 + u`` for ``u >= 0``: the even minorant of Lemma K's ``phi``.

    ``phi(x) = e^x - 1 - x >= phi_e(|x|)`` (equality for ``x <= 0``; for ``x > 0`` the
    difference is ``2 (sinh x - x) >= 0``). Below ``u = 0.5`` it is summed as its Taylor
    series (22 terms, Horner), where ``expm1(-u) + u`` would cancel; relative error a few
    ulps everywhere (tested against mpmath). Proof: proofs/theorem_b.md, step 2.
    """
    u = np.asarray(u, dtype=np.float64)
    out = np.expm1(-u) + u
    small = u < 0.5
    if np.any(small):
        us = u[small]
        acc = np.zeros_like(us)
        for coeff in reversed(_SERIES):
            acc = acc * us + coeff
        out = np.array(out, copy=True)
        out[small] = acc * us * us
    return out if out.ndim else float(out)


def phi_even_inverse(c):
    """The ``u >= 0`` with ``phi_even(u) = c`` (``c >= 0``), by safeguarded Newton steps
    (used for the Huber family's admissible scaling, proofs/theorem_b.md, step 3')."""
    c = np.asarray(c, dtype=np.float64)
    if np.any(~(c >= 0)):
        raise ValueError("phi_even_inverse needs c >= 0")
    root = np.sqrt(2.0 * c)
    u = np.where(c < 1.0, root * (1.0 + root / 6.0), c + 1.0)
    for _ in range(60):
        f = phi_even(u) - c
        slope = -np.expm1(-u)
        step = np.where(slope > 0, f / np.where(slope > 0, slope, 1.0), 0.0)
        u = np.maximum(u - step, 0.0)
        if np.all(np.abs(step) <= 4 * _EPS * np.maximum(u, 1e-300)):
            break
    return u if u.ndim else float(u)


def _huber(beta, b):
    """``beta^2`` up to ``b/2``, ``b beta - b^2/4`` beyond (``b`` broadcast to ``beta``;
    the second branch only where it applies, so that a huge ``b`` does not overflow)."""
    beta = np.asarray(beta, dtype=np.float64)
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), beta.shape)
    out = beta * beta
    far = beta > b / 2.0
    out[far] = b[far] * (beta[far] - b[far] / 4.0)
    return out


def _check_beta(singular_values) -> np.ndarray:
    s = np.asarray(singular_values, dtype=np.float64)
    if s.ndim != 1 or not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("singular_values must be a 1-D array of finite values >= 0")
    return np.sort(s)[::-1]


def _check_positive(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number; got {type(x).__name__}")
    x = float(x)
    if not (np.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be finite and > 0; got {x!r}")
    return x


def theorem_b(singular_values, d: int, alpha: float) -> float:
    """One block's value in Theorem B: ``alpha * sum_{j > d} phi_e(beta_j)``.

    Parameters
    ----------
    singular_values : array_like, shape (k,)
        ``beta`` of the projected block matrix ``B'`` (:func:`projected_block`), any order.
    d : int
        Rank of the head, ``>= 0``.
    alpha : float
        The block's constant (``> 0``); the block must use weight ``alpha max(r, r^2)``.

    Returns
    -------
    float
        A lower bound on the part of ``G(Z)`` carried by the block's weight, for every
        rank-``d`` head ``Z``; 0 when ``d >= rank(B')``.

    Notes
    -----
    Lemma K (support form) and ``phi >= phi_e`` give ``sum w phi(x) >= alpha sum
    phi_e(|y_ij|)`` for ``y = s_i t_j x_ij`` (used weight); Lemma M
    (``sum_j g(sigma_j(Y)) <= sum_ij g(Y_ij)`` for ``g = phi_e``, whose conjugate is convex in
    ``lambda^2``), the projections and Weyl's inequality ``sigma_j(Y') >= beta_{d+j}`` give
    the rest. Theorem B of docs/theory.md; proof: proofs/theorem_b.md.

    Examples
    --------
    >>> round(theorem_b([3.0, 2.0, 1.0], 1, 0.5), 6)  # 0.5 * (phi_e(2) + phi_e(1))
    0.751501
    """
    beta = _check_beta(singular_values)
    d = _v.check_rank(d)
    alpha = _check_positive(alpha, "alpha")
    return float(alpha * np.sum(phi_even(beta[d:])))


def theorem_b_huber(singular_values, d: int, b: float) -> float:
    """One block's value in the Huber form of Theorem B: ``sum_{j > d} huber_b(beta_j)``.

    ``huber_b(beta) = beta^2`` for ``beta <= b/2`` and ``b beta - b^2/4`` beyond (the
    infimal convolution of ``y^2`` and ``b |y|``). The block must use weight
    ``b^2 / phi_e(b / r)`` per entry (:func:`used_weight`). This is the per-singular-value
    form of the proposal in docs/lower_bounds.md, which it dominates (it is ``>=`` that
    proposal's ``max_k huber(K_k; 1, b, k)`` by convexity). Proof: proofs/theorem_b.md.
    """
    beta = _check_beta(singular_values)
    d = _v.check_rank(d)
    b = _check_positive(b, "b")
    return float(np.sum(_huber(beta[d:], b)))


def admissible_scaling(weight, alpha: float, family: str = "phi"):
    """Largest ``r = s_i t_j`` an entry of weight ``w`` admits: ``used_weight(r) <= w``.

    ``phi`` family: ``r_max = min(w/alpha, sqrt(w/alpha))`` (exact: from ``u -> 0`` and
    ``u -> inf`` in ``w phi_e(u/r) >= alpha phi_e(u)``). ``huber`` family (``alpha`` is ``b``):
    ``r_max = b / phi_e^{-1}(b^2/w)``. Zero weight admits ``r = 0`` only.
    Proof: proofs/theorem_b.md, steps 3 and 3'.
    """
    w = np.asarray(weight, dtype=np.float64)
    if family == "phi":
        x = w / alpha
        return np.minimum(x, np.sqrt(x))
    if family == "huber":
        pos = w > 0
        out = np.zeros_like(w)
        out[pos] = alpha / phi_even_inverse(alpha * alpha / w[pos])
        return out
    raise ValueError(f"family must be one of {FAMILIES}; got {family!r}")


def used_weight(r, alpha: float, family: str = "phi"):
    """Weight an entry with scaling ``r = s_i t_j`` uses: ``alpha max(r, r^2)`` (``phi``) or
    ``b^2 / phi_e(b/r)`` (``huber``, ``b = alpha``); the inverse of :func:`admissible_scaling`.

    ``alpha`` may be an array broadcastable to ``r`` (one constant per block of a stack).
    Proof that an entry with ``w >= used_weight(r)`` satisfies the per-entry inequality of
    Theorem B: proofs/theorem_b.md, step 3.
    """
    r = np.asarray(r, dtype=np.float64)
    if family == "phi":
        return alpha * np.maximum(r, r * r)
    if family == "huber":
        b = np.broadcast_to(np.asarray(alpha, dtype=np.float64), r.shape)
        out = np.zeros_like(r)
        pos = r > 0
        # b^2 / phi_e(u) with u = b / r, as (b r) (u / phi_e(u)): b^2 overflows long before
        # the result does. u / phi_e(u) >= 1 tends to 1 as u -> inf, and is 2/u + 2/3 + O(u)
        # as u -> 0 (where phi_e(u) ~ u^2/2 underflows)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            u = b[pos] / r[pos]
            factor = np.where(u < 1e-100, 2.0 / u + 2.0 / 3.0, u / phi_even(u))
            out[pos] = b[pos] * r[pos] * np.where(np.isinf(u), 1.0, factor)
        return out
    raise ValueError(f"family must be one of {FAMILIES}; got {family!r}")


def projected_block(log_probs, s, t, bias: bool) -> np.ndarray:
    """``B' = (I - s s^T/|s|^2)^{[bias]} diag(s) L diag(t) (I - t t^T/|t|^2)``, shape (m, n).

    The right projection removes the log-partition column ``diag(s) c 1^T diag(t)`` of
    ``log Q``; with a bias the left one removes the bias row ``diag(s) 1 b^T diag(t)``. What
    remains of ``diag(s) Z diag(t)`` has rank ``<= d`` (proofs/theorem_b.md, step 5).
    """
    L = np.asarray(log_probs, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    return projected_stack(L[None], s[None], t[None], bias)[0][0]


def projected_stack(L, S, T, bias: bool):
    """:func:`projected_block` of a stack: ``L`` (K, m, n), ``S`` (K, m), ``T`` (K, n) give
    ``(B', scale)`` of shapes (K, m, n) and (K,), ``scale_k = ||diag(s_k) L_k diag(t_k)||_F``
    before the projections (the size the rounding margins are relative to).
    Proof: proofs/theorem_b.md, step 5."""
    B = S[:, :, None] * L * T[:, None, :]
    scale = np.sqrt(np.sum(B * B, axis=(1, 2)))
    tn = T / np.linalg.norm(T, axis=1, keepdims=True)
    B = B - (B @ tn[:, :, None]) * tn[:, None, :]
    if bias:
        sn = S / np.linalg.norm(S, axis=1, keepdims=True)
        B = B - sn[:, :, None] * (sn[:, None, :] @ B)
    return B, scale


# ---------------------------------------------------------------------------- certificates
class CertificateError(ValueError):
    """A Theorem B certificate that does not hold for the target it is checked against."""


def _frozen(a, dtype) -> np.ndarray:
    out = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Block:
    """One block of a Theorem B certificate.

    Attributes
    ----------
    rows, cols : ndarray of int
        Context indices ``I`` and token indices ``J`` (distinct within each).
    s, t : ndarray of float
        Positive scalings on ``I`` and ``J``.
    alpha : float
        The constant (``b`` for the Huber family).
    family : {"phi", "huber"}

    The block uses the weight :func:`used_weight` of ``s_i t_j`` on ``rows x cols``
    (proofs/theorem_b.md).
    """

    rows: np.ndarray
    cols: np.ndarray
    s: np.ndarray
    t: np.ndarray
    alpha: float
    family: str = "phi"

    def __post_init__(self):
        for name, dtype in (
            ("rows", np.int64),
            ("cols", np.int64),
            ("s", np.float64),
            ("t", np.float64),
        ):
            object.__setattr__(self, name, _frozen(getattr(self, name), dtype))
        object.__setattr__(self, "alpha", float(self.alpha))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows.size, self.cols.size)


@dataclass(frozen=True)
class Certificate:
    """Everything needed to re-verify a Theorem B lower bound on one target.

    Attributes
    ----------
    d : int
    bias : bool
        Whether the head has a bias (the left projection is applied).
    blocks : tuple of Block
    value : float
        The claimed lower bound on ``G*(d)`` (nats/token); :func:`verify_theorem_b` recomputes
        it and rejects a certificate claiming more than it supports.
    search : str
        How the blocks were found (tiling, shapes, layers); informational.

    Theorem B of docs/theory.md; proof: proofs/theorem_b.md.
    """

    d: int
    bias: bool
    blocks: tuple = ()
    value: float = 0.0
    search: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "blocks", tuple(self.blocks))

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def describe(self) -> str:
        """One line: number of blocks, their typical shape and the search that found them."""
        if not self.blocks:
            return "no admissible block"
        shapes = np.array([b.shape for b in self.blocks])
        m, n = (int(x) for x in np.median(shapes, axis=0))
        return f"{len(self.blocks)} blocks of ~{m} x {n}; {self.search}"


def _singular_values_lower(B: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Singular values of a stack of projected blocks ``B`` (K, m, n) minus a rounding
    margin: lower bounds, shape (K, min(m, n)), each row in decreasing order.

    ``scale`` (K,) is ``||diag(s) L diag(t)||_F`` before the projections. Forming ``B``
    (products, projections; the log-probabilities themselves carry a relative ``eps``)
    perturbs it by ``O(eps scale)``, and LAPACK's SVD is backward stable (exact for ``B + E``
    with ``||E||_2 <= c eps ||B||``); the margin ``32 eps (max(m, n) sigma_1 + sqrt(max(m, n))
    scale)`` covers both with room, so a block of exact rank ``<= d`` certifies 0.
    """
    sv = np.linalg.svd(B, compute_uv=False)
    side = max(B.shape[1:])
    margin = 32.0 * _EPS * (side * sv[:, :1] + np.sqrt(side) * scale[:, None])
    return np.maximum(sv - margin, 0.0)


def _block_values(beta: np.ndarray, d: int, alpha: np.ndarray, family: str) -> np.ndarray:
    """Each block's value from its singular values ``beta`` (K, r) and constants (K,)."""
    if family == "phi":
        return alpha * np.sum(phi_even(beta[:, d:]), axis=1)
    return np.sum(_huber(beta[:, d:], alpha[:, None]), axis=1)


def _check_block_fields(block: Block, shape: tuple[int, int], k: int) -> None:
    n, v = shape
    if block.family not in FAMILIES:
        raise CertificateError(f"block {k}: unknown family {block.family!r}")
    if not (np.isfinite(block.alpha) and block.alpha > 0):
        raise CertificateError(f"block {k}: alpha must be finite and > 0; got {block.alpha!r}")
    for name, idx, hi in (("rows", block.rows, n), ("cols", block.cols, v)):
        if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= hi:
            raise CertificateError(f"block {k}: {name} must be indices in [0, {hi})")
        if np.unique(idx).size != idx.size:
            raise CertificateError(f"block {k}: {name} repeat an index")
    if block.s.shape != block.rows.shape or block.t.shape != block.cols.shape:
        raise CertificateError(f"block {k}: s and t must match rows and cols in length")
    for name, vec in (("s", block.s), ("t", block.t)):
        if not (np.all(np.isfinite(vec)) and np.all(vec > 0)):
            raise CertificateError(f"block {k}: {name} must be finite and > 0")


def verify_theorem_b(target, d: int, certificate: Certificate) -> float:
    """Re-derive a Theorem B lower bound from the target alone; raise if anything fails.

    Checks, for the certificate's blocks: ``d`` and the bias match; indices, scalings and
    constants are valid; every block lies in the support (``p_ij > 0``); the used weights
    (:func:`used_weight` of ``s_i t_j``) add up to at most ``w_ij = pi_i p_ij`` on every entry
    (a ratio up to ``1 + 1e-9`` is accepted and the value divided by it, which keeps it
    certified); then recomputes each block's singular values (full SVD, with a rounding
    margin) and the sum of block values.

    Parameters
    ----------
    target : Target
    d : int
    certificate : Certificate

    Returns
    -------
    float
        The certified lower bound on ``G*(d)`` (nats/token).

    Raises
    ------
    CertificateError
        If a constraint fails, or the certificate claims more than the recomputed value
        (beyond a relative ``1e-9``).

    Notes
    -----
    Theorem B of docs/theory.md; proof (and the rounding margins): proofs/theorem_b.md.
    """
    d = _v.check_rank(d)
    if not isinstance(certificate, Certificate):
        raise TypeError(f"certificate must be a Certificate; got {type(certificate).__name__}")
    if certificate.d != d:
        raise CertificateError(f"certificate is for d = {certificate.d}, not d = {d}")
    if certificate.bias != target.bias:
        raise CertificateError(
            f"certificate has bias={certificate.bias}, target has bias={target.bias}"
        )
    if not certificate.blocks:
        if certificate.value > 0:
            raise CertificateError("a certificate without blocks cannot claim a positive value")
        return 0.0
    for k, block in enumerate(certificate.blocks):
        _check_block_fields(block, target.shape, k)
    cols = np.unique(np.concatenate([b.cols for b in certificate.blocks]))
    P, L = target.columns(cols)
    w = np.asarray(target.weights)[:, None] * P
    used, values = _used_and_values(certificate.blocks, cols, P, L, d, target.bias)
    # an overflowing scaling or constant gives inf or NaN weights (inf/inf in the Huber
    # family), which the ratio test below would read as unused: reject them here
    if not (np.all(np.isfinite(used)) and np.all(np.isfinite(values))):
        raise CertificateError(
            "the blocks' used weights or values are not finite (scalings or constants overflow)"
        )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(used > 0, used / w, 0.0)
    worst = float(np.max(ratio))
    if not np.isfinite(worst) or worst > 1.0 + 1e-9:
        i, j = np.unravel_index(int(np.argmax(np.nan_to_num(ratio, nan=np.inf))), ratio.shape)
        raise CertificateError(
            f"blocks use weight {used[i, j]:.6g} > pi_i p_ij = {w[i, j]:.6g} at context {i}, "
            f"token {int(cols[j])}"
        )
    # accumulate with a relative rounding margin on the sum
    value = math.fsum(values) / max(1.0, worst) * (1.0 - 8 * _EPS * len(values))
    if certificate.value > value * (1.0 + 1e-9) + 1e-300:
        raise CertificateError(
            f"certificate claims {certificate.value:.10g} but its blocks support {value:.10g}"
        )
    return max(value, 0.0)


def _used_and_values(blocks, cols, P, L, d: int, bias: bool):
    """The weight the blocks use on every entry of the ``cols`` columns (N, |cols|) and
    each block's value (len(blocks),), blocks of one shape and family batched together in
    chunks of :data:`_VERIFY_CHUNK` (memory ``O(chunk entries + N |cols|)``); raises
    :class:`CertificateError` for the first block that leaves the support."""
    groups: dict[tuple, list[int]] = {}
    for k, block in enumerate(blocks):
        groups.setdefault((block.shape, block.family), []).append(k)
    values = np.zeros(len(blocks))
    used = np.zeros(P.size)
    outside = []
    for (_, family), group in groups.items():
        for start in range(0, len(group), _VERIFY_CHUNK):
            ks = group[start : start + _VERIFY_CHUNK]
            R = np.stack([blocks[k].rows for k in ks])[:, :, None]
            C = np.searchsorted(cols, np.stack([blocks[k].cols for k in ks]))[:, None, :]
            bad = ~np.all(P[R, C] > 0, axis=(1, 2))
            if bad.any():  # log p = -inf there: nothing to compute
                outside.extend(np.asarray(ks)[bad].tolist())
                continue
            S = np.stack([blocks[k].s for k in ks])
            T = np.stack([blocks[k].t for k in ks])
            alpha = np.array([blocks[k].alpha for k in ks])
            uw = used_weight(S[:, :, None] * T[:, None, :], alpha[:, None, None], family)
            index = np.broadcast_to(R * cols.size + C, uw.shape).ravel()
            used += np.bincount(index, weights=uw.ravel(), minlength=P.size)
            B, scale = projected_stack(L[R, C], S, T, bias)
            values[ks] = _block_values(_singular_values_lower(B, scale), d, alpha, family)
    if outside:
        raise CertificateError(f"block {min(outside)} leaves the support (some p_ij = 0)")
    return used.reshape(P.shape), values


_FAMILY_CODES = {name: k for k, name in enumerate(FAMILIES)}


def save_certificate(path, certificate: Certificate) -> None:
    """Write a certificate to ``path`` (``.npz``, atomically; plain arrays, no pickle).

    Blocks are stored concatenated (``rows``, ``cols``, ``s``, ``t`` with per-block lengths),
    so a certificate of thousands of blocks is one small file that
    :func:`load_certificate` reads back exactly, for :func:`verify_theorem_b` on another
    machine (proofs/theorem_b.md).
    """
    blocks = certificate.blocks

    def cat(name, dtype):
        parts = [getattr(b, name) for b in blocks]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    atomic_savez(
        path,
        d=np.int64(certificate.d),
        bias=np.bool_(certificate.bias),
        value=np.float64(certificate.value),
        search=np.str_(certificate.search),
        shapes=np.array([b.shape for b in blocks], dtype=np.int64).reshape(-1, 2),
        alpha=np.array([b.alpha for b in blocks], dtype=np.float64),
        family=np.array([_FAMILY_CODES[b.family] for b in blocks], dtype=np.int64),
        rows=cat("rows", np.int64),
        cols=cat("cols", np.int64),
        s=cat("s", np.float64),
        t=cat("t", np.float64),
    )


def load_certificate(path) -> Certificate:
    """Read a certificate written by :func:`save_certificate` (``allow_pickle=False``).

    The result is only a claim: check it with :func:`verify_theorem_b` against the target.
    """
    with np.load(path, allow_pickle=False) as f:
        shapes, alpha, family = f["shapes"], f["alpha"], f["family"]
        row_ends = np.cumsum(shapes[:, 0])
        col_ends = np.cumsum(shapes[:, 1])
        rows = np.split(f["rows"], row_ends[:-1]) if len(shapes) else []
        s = np.split(f["s"], row_ends[:-1]) if len(shapes) else []
        cols = np.split(f["cols"], col_ends[:-1]) if len(shapes) else []
        t = np.split(f["t"], col_ends[:-1]) if len(shapes) else []
        blocks = tuple(
            Block(
                rows=rows[k],
                cols=cols[k],
                s=s[k],
                t=t[k],
                alpha=float(alpha[k]),
                family=FAMILIES[int(family[k])],
            )
            for k in range(len(shapes))
        )
        return Certificate(
            d=int(f["d"]),
            bias=bool(f["bias"]),
            blocks=blocks,
            value=float(f["value"]),
            search=str(f["search"]),
        )
