"""Explicit rank-``d`` heads built from truncated SVDs (docs/theory.md §2, Theorem U).

An explicit head is a feasible point of the rank-``d`` problem, so its exact gap is a
certified upper bound on ``G*(d)`` (``U_trunc``); the solver also starts from it. The head
truncates the row-weighted centred reference logits ``R_pi = D_pi^{1/2} R C`` with
``R = log P`` for full support, else ``log max(P, floor)`` (context-centred when the head
has a bias): ``Z = D_pi^{-1/2} (R_pi)_d`` (``+ 1 mu^T`` with a bias).

=====================================  ============================================
:func:`truncated_svd_head`             the head's logits ``Z`` and the spectrum of ``R_pi``
:func:`truncated_svd_factors`          the same head as balanced factors ``(H, W, mu)``
:func:`factored_truncated_head`        a factored target's head, from its factors
:func:`truncated_svd_gap`              ``U_trunc`` and ``T_d`` for any storage
:func:`default_floors`                 the floors tried for targets with zeros
=====================================  ============================================

Proof that the head has rank ``<= d`` (``d + 1`` with the bias row): proofs/rank_fact.md;
that its gap bounds ``G*(d)``: proofs/theorem_u.md.
"""

from __future__ import annotations

import numpy as np

from . import _validation as _v
from .spectrum import factored_spectrum, log_prob_noise_scale, truncated_svd_with_spectrum
from .target import Target, centring_matrix_apply

__all__ = [
    "DEFAULT_FLOOR_FACTORS",
    "default_floors",
    "reference_logits",
    "truncated_svd_head",
    "truncated_svd_factors",
    "factored_truncated_head",
    "truncated_svd_gap",
]

#: Floors ``log max(P, floor)`` tried for targets with zeros, relative to the smallest
#: positive probability (U_trunc and the solver's truncated-SVD start use the best).
DEFAULT_FLOOR_FACTORS = (1.0, 1e-2, 1e-4)


def default_floors(target: Target) -> list[float]:
    """The floors of :data:`DEFAULT_FLOOR_FACTORS` for ``target`` (which has zeros)."""
    positive = np.asarray(target.probs)[np.asarray(target.probs) > 0]
    return [float(positive.min()) * f for f in DEFAULT_FLOOR_FACTORS]


def reference_logits(target: Target, floor: float | None) -> np.ndarray:
    """``log P`` (full support) or ``log max(P, floor)``: finite logits close to the target."""
    if floor is None:
        return np.array(target.log_probs)
    return np.log(np.maximum(target.probs, floor))


def _context_centre(R: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(RC - 1 mu^T, mu)`` with ``mu = pi^T R C / sum(pi)`` (bias centring)."""
    Rc = centring_matrix_apply(R)
    mu = weights @ Rc / weights.sum()
    return Rc - mu, mu


def _truncation(target: Target, d: int, floor: float | None, method: str):
    """``(U, s, Vt, spectrum, sqrt(pi) column, mu)``: the top-``d`` SVD of ``R_pi``."""
    d = _v.check_rank(d)
    if floor is None and not target.has_full_support:
        raise ValueError(
            "target has zeros: pass floor > 0 to build reference logits log max(P, floor)"
        )
    R = reference_logits(target, floor)
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
    return U, s, Vt, spec, sq, mu


def truncated_svd_head(target: Target, d: int, *, floor: float | None = None, method="auto"):
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
    """
    U, s, Vt, spec, sq, mu = _truncation(target, d, floor, method)
    Z = (U * s) @ Vt / sq
    if mu is not None:
        Z = Z + mu
    return Z, spec


def truncated_svd_factors(target: Target, d: int, *, floor: float | None = None, method="auto"):
    """The head of :func:`truncated_svd_head` as balanced factors ``(H, W, mu)``.

    ``Z = H W^T + 1 mu^T`` with ``H = D_pi^{-1/2} U_d S_d^{1/2}`` and ``W = V_d S_d^{1/2}``
    (``mu`` None without a bias): the gauge of :func:`factored_truncated_head`, so dense and
    factored copies of a target give the solver the same start.
    """
    U, s, Vt, _, sq, mu = _truncation(target, d, floor, method)
    r = np.sqrt(s)
    return (U * r) / sq, Vt.T * r, mu


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


def truncated_svd_gap(target: Target, d: int, *, method: str = "auto") -> tuple[float, float]:
    """``(U_trunc, T_d)`` of a full-support target: the exact gap of the truncated-SVD head
    (0 when ``T_d = 0``: the head is then exact) and the tail energy of ``A_pi``.

    A factored target's head is built from its factors (:func:`factored_truncated_head`)
    and scored block by block; any other storage through :func:`truncated_svd_head`.
    """
    if target.has_factors:
        H, W, mu, T = factored_truncated_head(target, d)
        return (0.0 if T == 0.0 else target.gap_factors(H, W, mu)), T
    Z, spec = truncated_svd_head(target, d, method=method)
    T = spec.tail(d)
    return (0.0 if T == 0.0 else target.gap(Z)), T
