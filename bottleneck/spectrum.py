"""Singular values, tail energies and W-error (docs/theory.md §1 and §3).

The tail energy of a matrix ``M`` at rank ``d`` is

    T_d(M) = sum_{k>d} sigma_k(M)^2 = ||M||_F^2 - sum_{k<=d} sigma_k(M)^2,

the squared Frobenius distance from ``M`` to its best rank-``d`` approximation
(Eckart–Young–Mirsky [EckartYoung1936]; proof: proofs/eckart_young_weighted.md). Only the
top ``d + 1`` singular values are computed unless the matrix is small.

Three methods compute the top singular values:

``"exact"``       LAPACK ``gesdd`` on the whole matrix; the tail is the sum of the small
                  values themselves (no cancellation).
``"lanczos"``     ARPACK (``scipy.sparse.linalg.svds``) to machine precision; the tail is
                  ``||M||_F^2 - sum_{k<=d} sigma_k^2``, floored at ``sigma_{d+1}^2``.
``"randomized"``  Halko–Martinsson–Tropp range finder (8 power iterations, max(20, k)
                  oversamples); agrees with
                  the exact path to a relative ``1e-6`` on the spectra tested
                  (tests/test_spectrum.py), not to machine precision.
``"auto"``        ``"exact"`` when ``min(N, V) <= 600`` or ``d + 1 > min(N, V) / 4``,
                  else ``"lanczos"``.

Singular values below ``max(N, V) * eps * max(sigma_1, ||D_pi^{1/2} log P||_F)`` (numpy's
``matrix_rank`` rule, scaled to the rounding of the log-probabilities) are treated as exact
zeros, so ``T_d = 0`` exactly once ``d`` reaches the numerical rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from . import _validation as _v
from . import gram_blocks as _gb
from . import gram_spectrum as _gs
from .gram_spectrum import WErrorCurve
from .target import Target

__all__ = [
    "TopSpectrum",
    "top_singular_values",
    "truncated_svd",
    "truncated_svd_with_spectrum",
    "tail_energy",
    "tail_energy_of_matrix",
    "tail_from_top",
    "w_error",
    "centred_log_prob_matrix",
    "centred_log_prob_spectrum",
    "fisher_weighted_matrix",
    "fisher_tail_energy",
    "numerical_rank_tolerance",
    "log_prob_noise_scale",
    "factored_svd",
    "factored_spectrum",
    "tall_qr",
    "w_error_curve",
    "WErrorCurve",
]

METHODS = ("auto", "exact", "lanczos", "randomized")
_EXACT_MAX_SIDE = 600


@dataclass(frozen=True)
class TopSpectrum:
    """Top singular values of a matrix with what is needed for its tails.

    Attributes
    ----------
    values : ndarray, shape (k,)
        ``sigma_1 >= ... >= sigma_k >= 0``, values under the rank tolerance set to 0.
    frobenius_sq : float
        ``||M||_F^2``.
    exact_tail : ndarray or None
        ``exact_tail[d] = sum_{k>d} sigma_k^2`` for every ``d`` when the full spectrum was
        computed (method ``"exact"``), else None.
    shape : tuple
        ``(N, V)`` of the matrix.
    method : str
        The method that produced the values.
    """

    values: np.ndarray
    frobenius_sq: float
    exact_tail: np.ndarray | None
    shape: tuple[int, int]
    method: str

    def tail(self, d: int) -> float:
        """``T_d = sum_{k>d} sigma_k^2`` (see :func:`tail_from_top`)."""
        d = _v.check_rank(d)
        if self.exact_tail is not None:
            return float(self.exact_tail[min(d, self.exact_tail.size - 1)])
        return tail_from_top(self.values, self.frobenius_sq, d, max_rank=min(self.shape))


def numerical_rank_tolerance(
    sigma_max: float, shape: tuple[int, int], noise_scale: float = 0.0
) -> float:
    """``max(N, V) * eps * max(sigma_1, noise_scale)``: singular values at or below are zero.

    ``noise_scale`` is the Frobenius norm of the data the matrix was computed from (for a
    target, ``||D_pi^{1/2} log P||_F``): rounding in ``log`` and in the centring leaves
    errors of order ``eps`` times that norm, which can exceed ``eps * sigma_1``.
    """
    return max(shape) * np.finfo(np.float64).eps * max(float(sigma_max), float(noise_scale))


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")


def _resolve(method: str, shape: tuple[int, int], k: int) -> str:
    _check_method(method)
    if method != "auto":
        return method
    small = min(shape)
    return "exact" if (small <= _EXACT_MAX_SIDE or k > small / 4) else "lanczos"


def _randomized_range(
    M: np.ndarray, k: int, seed: int, n_iter: int = 8, oversample: int | None = None
):
    rng = np.random.default_rng(seed)
    n = M.shape[1]
    ell = min(min(M.shape), k + (max(20, k) if oversample is None else oversample))
    Q = np.linalg.qr(M @ rng.standard_normal((n, ell)))[0]
    for _ in range(n_iter):
        Q = np.linalg.qr(M.T @ Q)[0]
        Q = np.linalg.qr(M @ Q)[0]
    return Q


def truncated_svd(M, k: int, *, method: str = "auto", seed: int = 0):
    """Top-``k`` singular triplets ``M ≈ U diag(s) Vt``, sorted decreasingly.

    Parameters
    ----------
    M : array_like, shape (N, V)
    k : int
        ``0 <= k <= min(N, V)``.
    method : {"auto", "exact", "lanczos", "randomized"}
    seed : int
        Seed of the randomized method's test matrix.

    Returns
    -------
    U : ndarray (N, k), s : ndarray (k,), Vt : ndarray (k, V)
        ``U diag(s) Vt`` is a best rank-``k`` approximation of ``M`` in Frobenius norm
        (Eckart–Young–Mirsky; proofs/eckart_young_weighted.md), exactly for ``"exact"``,
        to solver precision otherwise.
    """
    M = np.asarray(M, dtype=np.float64)
    k = _v.check_rank(k, "k")
    n_small = min(M.shape)
    if k > n_small:
        raise ValueError(f"k = {k} exceeds min(N, V) = {n_small}")
    if k == 0:
        return np.zeros((M.shape[0], 0)), np.zeros(0), np.zeros((0, M.shape[1]))
    how = _resolve(method, M.shape, k)
    if how == "lanczos" and k >= n_small:
        how = "exact"  # ARPACK needs k < min(N, V)
    if how == "exact":
        U, s, Vt = scipy.linalg.svd(M, full_matrices=False, lapack_driver="gesdd")
        return U[:, :k], s[:k], Vt[:k]
    if how == "lanczos":
        try:
            U, s, Vt = scipy.sparse.linalg.svds(M, k=k, tol=0, solver="arpack", random_state=seed)
        except scipy.sparse.linalg.ArpackError:
            # e.g. "starting vector is zero": M = 0, or a Krylov space exhausted below rank k
            return truncated_svd(M, k, method="exact")
        order = np.argsort(s)[::-1]
        return U[:, order], s[order], Vt[order]
    Q = _randomized_range(M, k, seed)
    Ub, s, Vt = np.linalg.svd(Q.T @ M, full_matrices=False)
    return (Q @ Ub)[:, :k], s[:k], Vt[:k]


def truncated_svd_with_spectrum(
    M, k: int, *, method: str = "auto", seed: int = 0, noise_scale: float = 0.0
):
    """Top-``k`` triplets of ``M`` and its :class:`TopSpectrum` (``k + 1`` values) in one SVD.

    Returns ``(U, s, Vt, spectrum)`` with ``U diag(s) Vt`` as in :func:`truncated_svd` and
    ``spectrum.tail(k)`` the tail energy ``T_k`` (what the truncation leaves out).
    """
    M = np.asarray(M, dtype=np.float64)
    k = _v.check_rank(k, "k")
    n_small = min(M.shape)
    if k > n_small:
        raise ValueError(f"k = {k} exceeds min(N, V) = {n_small}")
    kk = min(k + 1, n_small)
    fro = float(np.einsum("ij,ij->", M, M))
    how = _resolve(method, M.shape, kk)
    if how == "lanczos" and kk >= n_small:
        how = "exact"
    if how == "exact":
        U, s_all, Vt = scipy.linalg.svd(M, full_matrices=False, lapack_driver="gesdd")
        s_all = _zero_below_tolerance(s_all, M.shape, noise_scale)
        tails = np.concatenate([np.cumsum((s_all**2)[::-1])[::-1], [0.0]])
        spec = TopSpectrum(s_all[:kk].copy(), fro, tails, M.shape, how)
        return U[:, :k], s_all[:k], Vt[:k], spec
    U, s, Vt = truncated_svd(M, kk, method=how, seed=seed)
    s = _zero_below_tolerance(s, M.shape, noise_scale)
    spec = TopSpectrum(s.copy(), fro, None, M.shape, how)
    return U[:, :k], s[:k], Vt[:k], spec


def top_singular_values(
    M, k: int, *, method: str = "auto", seed: int = 0, noise_scale: float = 0.0
) -> TopSpectrum:
    """Top-``k`` singular values of ``M`` and ``||M||_F^2`` (a :class:`TopSpectrum`).

    ``k`` is clipped to ``min(N, V)``. With ``method="exact"`` the whole spectrum is
    computed and the tails are summed directly; otherwise only ``k`` values are computed.
    ``noise_scale`` enters the zero tolerance (:func:`numerical_rank_tolerance`).
    """
    M = np.asarray(M, dtype=np.float64)
    k = min(_v.check_rank(k, "k"), min(M.shape))
    fro = float(np.einsum("ij,ij->", M, M))
    how = _resolve(method, M.shape, k)
    if how == "lanczos" and k >= min(M.shape):
        how = "exact"
    if how == "exact":
        s = scipy.linalg.svdvals(M, check_finite=False)
        s = _zero_below_tolerance(s, M.shape, noise_scale)
        tails = np.concatenate([np.cumsum((s**2)[::-1])[::-1], [0.0]])
        return TopSpectrum(s[:k].copy(), fro, tails, M.shape, how)
    if k == 0:
        return TopSpectrum(np.zeros(0), fro, None, M.shape, how)
    if how == "lanczos":
        s = scipy.sparse.linalg.svds(
            M, k=k, tol=0, solver="arpack", random_state=seed, return_singular_vectors=False
        )
        s = np.sort(s)[::-1]
    else:
        s = truncated_svd(M, k, method="randomized", seed=seed)[1]
    return TopSpectrum(_zero_below_tolerance(s, M.shape, noise_scale), fro, None, M.shape, how)


def _zero_below_tolerance(s: np.ndarray, shape, noise_scale: float = 0.0) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64).copy()
    if s.size:
        s[s <= numerical_rank_tolerance(s.max(), shape, noise_scale)] = 0.0
    return s


def tail_from_top(top_values, frobenius_sq: float, d: int, *, max_rank: int | None = None) -> float:
    """Tail energy from the top values: ``T_d = max(||M||_F^2 - sum_{k<=d} s_k^2, s_{d+1}^2)``.

    ``T_d`` is the squared distance of ``M`` to the rank-``d`` matrices (Eckart–Young–Mirsky,
    proofs/eckart_young_weighted.md); the floor ``s_{d+1}^2`` guards against cancellation.

    Parameters
    ----------
    top_values : array_like, shape (k,)
        The top ``k`` singular values, decreasing. Needs ``k >= d`` (and ``k >= d + 1`` for
        the floor and for the exact-zero rule below).
    frobenius_sq : float
        ``||M||_F^2``.
    d : int
    max_rank : int, optional
        ``min(N, V)``: for ``d >= max_rank`` the tail is exactly 0.

    Notes
    -----
    The floor ``T_d >= sigma_{d+1}^2`` guards the subtraction against cancellation. When
    ``s_{d+1} = 0`` (numerically zero, see :func:`numerical_rank_tolerance`), ``rank <= d``
    and ``T_d = 0`` exactly (theory.md §1 rank fact).
    """
    s = np.asarray(top_values, dtype=np.float64)
    d = _v.check_rank(d)
    if max_rank is not None and d >= max_rank:
        return 0.0
    if s.size < d:
        raise ValueError(f"need at least d = {d} top singular values, got {s.size}")
    if s.size > d and s[d] == 0.0:
        return 0.0
    tail = float(frobenius_sq) - float(np.sum(s[:d] ** 2))
    floor = float(s[d] ** 2) if s.size > d else 0.0
    return max(tail, floor, 0.0)


def tail_energy_of_matrix(M, d: int, *, method: str = "auto", noise_scale: float = 0.0) -> float:
    """``T_d(M) = sum_{k>d} sigma_k(M)^2`` from the top ``d + 1`` values and ``||M||_F``."""
    M = np.asarray(M, dtype=np.float64)
    d = _v.check_rank(d)
    if d >= min(M.shape):
        return 0.0
    return top_singular_values(M, d + 1, method=method, noise_scale=noise_scale).tail(d)


def w_error(M, d: int, *, method: str = "auto") -> float:
    """W-error of [Godey2024]: ``sqrt(sum_{k>d} sigma_k^2) / ||M||_F`` (theory.md §3).

    In ``[0, 1]``, non-increasing in ``d``, 1 at ``d = 0``, 0 for ``d >= rank(M)``. A
    diagnostic, not a bound. Raises ValueError for a zero matrix.
    """
    M = _v.rescale_extreme(_v.as_real_array(M, "M"))  # scale-invariant: exact rescaling
    fro = float(np.einsum("ij,ij->", M, M))
    if fro == 0.0:
        raise ValueError("w_error is undefined for a zero matrix (||M||_F = 0)")
    return float(np.sqrt(tail_energy_of_matrix(M, d, method=method) / fro))


def w_error_curve(
    target_or_matrix,
    ds=None,
    *,
    method: str = "auto",
    client=None,
    probes: int = 16,
    lanczos_steps: int = 100,
    deflation: int | None = None,
    power_iterations: int = 6,
    seed: int = 0,
    progress: bool = False,
) -> WErrorCurve:
    """W-error ``sqrt(sum_{k>d} sigma_k^2) / ||M||_F`` at every ``d`` of ``ds`` (theory.md
    §3; [Godey2024] Fig. 7), from the Gram ``M^T M`` accumulated block by block.

    Parameters
    ----------
    target_or_matrix : Target, ndarray, scipy.sparse matrix or NgramStore
        ``M`` is the probability matrix of a target (rows ``p_i``, unweighted, as in the
        paper), the matrix itself, or a store's row blocks (read block by block).
    ds : array of int, optional
        Default: every ``d`` from 0 to the Gram side (``exact``), or 0 and 60 log-spaced
        ranks (``slq``).
    method : {"auto", "exact", "slq"}
        ``exact``: eigenvalues of the dense Gram (the smaller side, float64); ``slq``:
        deflated stochastic Lanczos quadrature with a stated error
        (:mod:`bottleneck.gram_spectrum`); ``auto``: ``exact`` when the smaller Gram side is
        at most ``EXACT_MAX_SIDE`` (8,000), else ``slq``.
    client : distributed.Client, optional
        Run the passes over the blocks on this cluster (blocks loaded on its workers).
    probes, lanczos_steps, deflation, power_iterations, seed
        ``slq`` only: Rademacher probes, Lanczos steps per probe, deflated directions
        (default ``min(512, V_obs // 4)``), power iterations for them, random seed.
    progress : bool
        A tqdm counter of the passes over the data.

    Returns
    -------
    WErrorCurve
        Frozen: ``ds``, ``w_error``, ``stderr`` and ``error`` (``slq``: ``|w_error -
        W_err(d)| <= error``), ``method``, ``passes`` over the data (the work).

    Proof of the estimator and its error: proofs/w_error_estimators.md. A diagnostic of
    the data, not a bound on the loss.
    """
    if method not in _gs.METHODS:
        raise ValueError(f"method must be one of {_gs.METHODS}; got {method!r}")
    probes, lanczos_steps, deflation, power_iterations, seed = _checked_slq_parameters(
        probes, lanczos_steps, deflation, power_iterations, seed
    )
    ds = _checked_ranks(ds)
    _check_client(client)
    bar = _pass_counter(_v.check_bool(progress, "progress"))
    blocks = _gb.GramBlocks(_w_error_source(target_or_matrix), client=client, on_pass=bar)
    side = min(blocks.shape[0], blocks.n_columns)
    if method == "auto":
        method = "exact" if side <= _gs.EXACT_MAX_SIDE else "slq"
    if ds is None:
        ds = (
            np.arange(side + 1)
            if method == "exact"
            else np.unique(np.concatenate([[0], np.geomspace(1, side, 60).round()]))
        )
    ds = np.array(ds, dtype=np.int64)
    if method == "exact":
        return _exact_curve(blocks, ds)
    defl = min(512, blocks.n_columns // 4) if deflation is None else int(deflation)
    return _slq_curve(
        blocks, ds, int(probes), int(lanczos_steps), defl, int(power_iterations), int(seed)
    )


def _exact_curve(blocks, ds: np.ndarray) -> WErrorCurve:
    """The ``exact`` branch of :func:`w_error_curve`: tails from ``exact_tails``."""
    tails = _gs.exact_tails(blocks)
    S = np.where(ds < tails.size, tails[np.minimum(ds, tails.size - 1)], 0.0)
    w = np.sqrt(np.clip(S / blocks.frobenius_sq, 0.0, 1.0))
    return _gs.WErrorCurve(
        ds=ds,
        w_error=w,
        stderr=None,
        error=None,
        method="exact",
        shape=blocks.shape,
        observed_columns=blocks.n_columns,
        frobenius_sq=blocks.frobenius_sq,
        passes=blocks.passes,
    )


def _pass_counter(progress: bool):
    """None, or a callable that advances a tqdm bar by one pass."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(desc="spectrum", unit="pass")
    return lambda: bar.update(1)


def _check_client(client) -> None:
    if client is not None and not (hasattr(client, "persist") and hasattr(client, "compute")):
        raise TypeError(f"client must be None or a distributed.Client; got {client!r}")


def _checked_slq_parameters(probes, lanczos_steps, deflation, power_iterations, seed):
    return (
        _v.check_int(probes, "probes", minimum=2),  # a standard error needs two probes
        _v.check_int(lanczos_steps, "lanczos_steps", minimum=1),
        _v.check_optional_int(deflation, "deflation", minimum=0),
        _v.check_int(power_iterations, "power_iterations", minimum=0),
        _v.check_int(seed, "seed", minimum=0),
    )


def _checked_ranks(ds):
    """None, or the ranks as a list of Python ints >= 0 (each checked: no floats, bools,
    nested lists)."""
    if ds is None:
        return None
    values = np.asarray(ds, dtype=object)
    if values.ndim > 1:
        raise ValueError(f"ds must be a rank or a 1-D list of ranks; got shape {values.shape}")
    # any rank past the matrix's side has W-error 0: clip to stay inside int64
    return [min(_v.check_rank(d, "d"), 2**62) for d in values.reshape(-1)]


def _slq_curve(blocks, ds, probes, steps, deflation, power_iterations, seed) -> WErrorCurve:
    """The ``slq`` branch of :func:`w_error_curve`: the tail estimate and its bracket
    ``[S_low, S_high]`` in W-error units (``error``: the larger half-width)."""
    fro = blocks.frobenius_sq
    S, s_err, s_low, s_high = _gs.slq_tails(
        blocks,
        ds,
        probes=probes,
        steps=steps,
        deflation=deflation,
        power_iterations=power_iterations,
        seed=seed,
    )
    w = np.sqrt(np.clip(S / fro, 0.0, 1.0))
    stderr = s_err / (2 * fro * np.maximum(w, 1e-300))
    stderr = np.where(s_err == 0, 0.0, np.minimum(stderr, 1.0))
    lo = np.sqrt(np.clip(s_low / fro, 0.0, 1.0))
    hi = np.sqrt(np.clip(s_high / fro, 0.0, 1.0))
    return _gs.WErrorCurve(
        ds=ds,
        w_error=w,
        stderr=stderr,
        error=np.maximum(w - lo, hi - w),
        method="slq",
        shape=blocks.shape,
        observed_columns=blocks.n_columns,
        frobenius_sq=fro,
        passes=blocks.passes,
        probes=probes,
        lanczos_steps=steps,
        deflation=deflation,
        w_lower=lo,
        w_upper=hi,
    )


def _w_error_source(x):
    """The matrix whose W-error is asked: a target's probabilities (sparse stays sparse,
    factored targets streamed by row blocks), or the argument itself."""
    if isinstance(x, Target):
        if x.storage == "sparse":
            return x.sparse_probs
        if x.storage == "dense":
            return x.probs
        return _TargetRowBlocks(x)
    return x


class _TargetRowBlocks:
    """Row blocks of a (factored) target's probabilities, one block in memory at a time."""

    def __init__(self, target: Target):
        self.target, self.shape = target, target.shape

    def iter_blocks(self):
        step = self.target.block_rows()
        for start in range(0, self.shape[0], step):
            yield start, self.target.rows(slice(start, start + step))[0]


def centred_log_prob_matrix(target: Target, *, weighted: bool = True) -> np.ndarray:
    """``A_pi = D_pi^{1/2} A`` (``D_pi^{1/2} Ã`` with bias), shape (N, V) (theory.md §1).

    With ``weighted=False`` returns ``A`` (or ``Ã``) itself. Needs full support. Dense: a
    factored target is materialised (up to ``DENSE_LIMIT``); prefer :func:`factored_svd`.
    """
    A = target.centred_log_probs()
    if weighted:
        A *= np.sqrt(target.weights)[:, None]
    return A


def log_prob_noise_scale(target: Target) -> float:
    """``||D_pi^{1/2} log P||_F`` over the support: the scale of rounding errors in ``A_pi``."""
    total = 0.0
    for sl, _, logp in target.iter_rows():
        lp = np.where(np.isfinite(logp), logp, 0.0)
        total += float(target.weights[sl] @ np.einsum("ij,ij->i", lp, lp))
    return float(np.sqrt(total))


def fisher_tail_energy(target: Target, d: int, *, method: str = "auto") -> float:
    """``T_d`` of ``D_pi^{1/2} A D_pbar^{1/2}``, the tail behind the estimate ``E_1``
    (theory.md §3; proofs/estimates.md): from the factors for a factored target, else from
    the top ``d + 1`` singular values of :func:`fisher_weighted_matrix`."""
    if target.has_factors:
        return factored_spectrum(target, fisher=True).spectrum.tail(d)
    Fm = fisher_weighted_matrix(target)
    return top_singular_values(Fm, min(d + 1, min(Fm.shape)), method=method).tail(d)


def fisher_weighted_matrix(target: Target) -> np.ndarray:
    """``D_pi^{1/2} A D_pbar^{1/2}`` with ``pbar = pi^T P / sum(pi)`` (estimate E_1,
    theory.md §3)."""
    return centred_log_prob_matrix(target) * np.sqrt(target.mean_probs())[None, :]


@dataclass(frozen=True)
class FactoredSVD:
    """Thin SVD ``M = Q_left U diag(s) Vt Q_right^T`` of a matrix given by two factors.

    ``left_basis`` (N, r1) and ``right_basis`` (V, r2) are orthonormal; ``U`` (r1, k),
    ``values`` (k,), ``Vt`` (k, r2) are the SVD of the small core. ``spectrum`` is the
    exact :class:`TopSpectrum` (every value computed).
    """

    left_basis: np.ndarray
    U: np.ndarray
    values: np.ndarray
    Vt: np.ndarray
    right_basis: np.ndarray
    spectrum: TopSpectrum

    def left(self, d: int) -> np.ndarray:
        """``Q_left U_d diag(s_d)``, shape (N, d)."""
        return self.left_basis @ (self.U[:, :d] * self.values[:d])

    def right(self, d: int) -> np.ndarray:
        """``Q_right V_d``, shape (V, d)."""
        return self.right_basis @ self.Vt[:d].T


#: Rows per block of :func:`tall_qr` (a block of 64 float64 columns stays in cache).
_TSQR_ROWS = 4096


def tall_qr(A: np.ndarray, *, basis: bool = True):
    """``(Q, R)`` of a tall matrix ``A = Q R`` (``Q`` None without ``basis``) by TSQR: the
    QR of each block of :data:`_TSQR_ROWS` rows, then of the stacked triangular factors
    (``Q`` is the block-diagonal ``Q_i`` times the second ``Q``). Householder on every
    block, so backward stable like one LAPACK QR [Demmel2012], and about 4x faster on a
    262,144 x 64 factor, where one LAPACK call is bound by memory traffic. Short matrices
    take one LAPACK call."""
    n = A.shape[0]
    if n <= 2 * _TSQR_ROWS:
        return np.linalg.qr(A) if basis else (None, np.linalg.qr(A, mode="r"))
    blocks = [slice(s, min(n, s + _TSQR_ROWS)) for s in range(0, n, _TSQR_ROWS)]
    if not basis:
        stacked = np.vstack([np.linalg.qr(A[b], mode="r") for b in blocks])
        return None, np.linalg.qr(stacked, mode="r")
    parts = [np.linalg.qr(A[b]) for b in blocks]
    Qt, R = np.linalg.qr(np.vstack([r for _, r in parts]))
    Q = np.empty((n, Qt.shape[1]))
    row = 0
    for b, (q, r) in zip(blocks, parts):
        Q[b] = q @ Qt[row : row + r.shape[0]]
        row += r.shape[0]
    return Q, R


def factored_svd(
    left, right, *, shape=None, noise_scale: float = 0.0, bases: bool = True
) -> FactoredSVD:
    """Exact SVD of ``M = left @ right.T`` without forming it: QR of both factors, SVD of
    the ``r1 x r2`` core ``R_1 R_2^T`` (``r <= D``). Cost ``O((N + V) D^2)``.

    Values under :func:`numerical_rank_tolerance` (with ``noise_scale``) are set to 0.
    ``bases=False`` skips forming the orthonormal factors ``Q`` (a quarter of the cost on a
    long factor; the singular values are the same): ``left_basis`` and ``right_basis`` are
    then None and only ``values``/``spectrum`` may be used.
    """
    L = np.asarray(left, dtype=np.float64)
    R = np.asarray(right, dtype=np.float64)
    if L.ndim != 2 or R.ndim != 2 or L.shape[1] != R.shape[1]:
        raise ValueError(f"left (N, D) and right (V, D) must share D; got {L.shape}, {R.shape}")
    Q1, R1 = tall_qr(L, basis=bases)
    Q2, R2 = tall_qr(R, basis=bases)
    U, s, Vt = np.linalg.svd(R1 @ R2.T, full_matrices=False)
    shape = shape or (L.shape[0], R.shape[0])
    if s.size:
        s = np.where(s <= numerical_rank_tolerance(s[0], shape, noise_scale), 0.0, s)
    sq = s * s
    exact_tail = np.concatenate([np.cumsum(sq[::-1])[::-1], [0.0]])
    spec = TopSpectrum(
        values=s,
        frobenius_sq=float(sq.sum()),
        exact_tail=exact_tail,
        shape=tuple(shape),
        method="factored",
    )
    return FactoredSVD(Q1, U, s, Vt, Q2, spec)


def _factored_sides(target: Target, fisher: bool = False):
    """``(D_pi^{1/2} X~, C W)`` with ``A_pi = left @ right.T`` for a factored target.

    The teacher's bias and the log-sum-exp are constant along each row and vanish under the
    vocabulary centring ``C``; with a student bias the features are centred over contexts
    (``X~ = X - 1 xbar^T``, ``xbar = pi^T X / sum pi``). With ``fisher`` the right side is
    ``D_pbar^{1/2} C W`` (the matrix of E_1).
    """
    X, W, b = target.factors
    w = np.asarray(target.weights)
    if target.bias:
        X = X - (w @ X) / w.sum()
    elif b is not None:  # A = [X, 1] [C W, C b]^T: the teacher's bias is a rank-one part of A
        X = np.hstack([X, np.ones((X.shape[0], 1))])
        W = np.hstack([W, b[:, None]])
    left = np.sqrt(w)[:, None] * X
    right = W - W.mean(axis=0)
    if fisher:
        right = right * np.sqrt(target.mean_probs())[:, None]
    return left, right


def factored_spectrum(target: Target, *, fisher: bool = False) -> FactoredSVD:
    """Exact SVD of ``A_pi`` (or of ``D_pi^{1/2} A D_pbar^{1/2}`` with ``fisher``) of a
    factored target from its factors (no N x V matrix): see :func:`factored_svd`.

    Computed once per target object and reused (a :class:`Target` is immutable).
    Same singular values as the dense computation (tested to 1e-8 relative); rank ``<= D``
    (``+0`` with a student bias: centring can only lower it), so ``T_d = 0`` for ``d >= D``.
    Proof of the tail's meaning: proofs/eckart_young_weighted.md.
    """

    def compute():
        left, right = _factored_sides(target, fisher)
        # ||right||_2 from the D x D Gram matrix: its top eigenvalue is accurate to a few
        # eps relative (a full SVD of the V x D factor took a second at V = 262,144)
        top = float(np.linalg.eigvalsh(right.T @ right)[-1]) if right.size else 0.0
        noise = float(np.linalg.norm(left)) * float(np.sqrt(max(top, 0.0)))
        # the Fisher matrix's spectrum is only read for its tail: no bases
        fs = factored_svd(left, right, shape=target.shape, noise_scale=noise, bases=not fisher)
        for a in (fs.left_basis, fs.U, fs.values, fs.Vt, fs.right_basis):
            if a is not None:
                a.setflags(write=False)  # shared by every caller from now on
        return fs

    # bounds, U_trunc and solve's start all need it: computed once per target
    return target.cached(("factored_spectrum", bool(fisher)), compute)


def centred_log_prob_spectrum(
    target: Target, k: int | None = None, *, method: str = "auto"
) -> TopSpectrum:
    """Top-``k`` singular values of ``A_pi`` (all of them when ``k`` is None).

    ``A_pi = D_pi^{1/2} log P C`` (``Ã_pi`` with a bias); its tail is the ``T_d`` of every
    bound (proofs/eckart_young_weighted.md). Factored targets: exact, from the factors."""
    if target.has_factors:
        return factored_spectrum(target).spectrum
    A = centred_log_prob_matrix(target)
    if k is None:
        k, method = min(A.shape), "exact"
    return top_singular_values(A, k, method=method, noise_scale=log_prob_noise_scale(target))


def tail_energy(target: Target, d: int, *, method: str = "auto") -> float:
    """Tail energy ``T_d = sum_{k>d} sigma_k(A_pi)^2`` of the target (theory.md §1).

    ``A_pi`` is the row-weighted centred log-probability matrix (``Ã_pi`` if the target has a
    bias). ``T_d = min_{rank Z <= d} ||D_pi^{1/2}(Z C - A)||_F^2`` by Eckart–Young–Mirsky
    (proofs/eckart_young_weighted.md); it is the quantity every bound of theory.md §2 reads.
    Computed from the top ``d + 1`` singular values and ``||A_pi||_F^2`` (exactly from the
    factors for a factored target).
    """
    if target.has_factors:
        return factored_spectrum(target).spectrum.tail(d)
    return tail_energy_of_matrix(
        centred_log_prob_matrix(target), d, method=method, noise_scale=log_prob_noise_scale(target)
    )
