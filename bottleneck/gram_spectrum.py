"""The W-error curve of a large matrix from its Gram ``G = M^T M`` (docs/theory.md §3;
[Godey2024] Fig. 7): exact eigenvalues, or stochastic Lanczos quadrature with a stated error.

``W_err(d) = sqrt(S(d) / ||M||_F^2)`` with the tail ``S(d) = sum_{k>d} lambda_k(G)``
(``lambda_k = sigma_k(M)^2``). Two methods:

``exact``  the eigenvalues of the dense ``V_obs x V_obs`` Gram (or the ``N x N`` one when
           ``N`` is smaller), accumulated block by block in float64; ``S(d)`` sums the small
           eigenvalues themselves (no cancellation).
``slq``    for Grams too large to decompose. Three steps, all passes over the row blocks:

  1. *deflation*: an orthonormal ``Q`` (``V_obs x k``) from ``q`` power iterations on a
     Gaussian block; ``A = Q^T G Q`` (exact eigenvalues ``theta``), ``B = Q_perp^T G Q`` from
     the residual ``GQ - QA``, ``C = Q_perp^T G Q_perp``. The pinching ``diag(A, C)`` has
     the trace of ``G`` and, by Ky Fan's inequalities, a tail within
     ``0 <= S_pinch(d) - S(d) <= sum_{j <= min(d, k)} sigma_j(B)``;
  2. *the variational form* ``S(d) = max_t [tr min(G, t) - d t]`` (valid for every PSD
     matrix: ``sum_{i>d} lambda_i = max_t sum_i min(lambda_i, t) - d t``, attained at
     ``t = lambda_{d+1}``), applied to ``diag(A, C)``: ``tr min(A, t)`` exactly, ``tr min(C,
     t)`` by stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017, SIAM J. Matrix Anal.
     Appl. 38(4)): Rademacher probes ``z``, projected ``w = (I - QQ^T) z``, ``m`` Lanczos
     steps on ``P G P`` with full reorthogonalisation, Gauss quadrature
     ``||w||^2 sum_j tau_j^2 min(theta_j, t)``;
  3. *the stated bracket* of ``S(d)``: (a) the Gauss quadrature error of ``min(x, t)``, at
     most ``||w||^2 (Lambda / 2) E_{2m-1}(2t / Lambda - 1)`` per probe, with ``E_n(a)`` the
     tail of the Chebyshev series of the kink ``|y - a|`` (:func:`chebyshev_kink_error`;
     small near the ends of the spectrum, where the large-``d`` tails live; ``Lambda``: the
     largest Ritz value, which Lanczos finds first), carried from ``t`` to the maximum by
     ``S_hat - e(t_hat) <= S_pinch <= S_hat + max_t [e(t) + g(t) - g(t_hat)]``; plus (b)
     three standard errors over the probes (Hutchinson's estimator: the one statistical
     part); plus the pinching term of step 1 on the lower side. ``lower``/``upper`` report
     the bracket in W-error units, ``error`` its larger half-width.

Proof notes and the checks: proofs/w_error_estimators.md, proofs/check_w_error_estimators.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ._result import Record
from .gram_blocks import GramBlocks

METHODS = ("auto", "exact", "slq")
#: largest Gram side decomposed densely by ``method="auto"`` (8,000: 512 MB, ~1 min)
EXACT_MAX_SIDE = 8000
#: matrices with at most this many entries (dense, observed columns) get the exact curve
#: from LAPACK's SVD of the matrix itself (singular values to ``eps sigma_1`` absolute, so
#: a zero tail stays at rounding level); larger ones from the Gram (below)
DENSE_SVD_MAX_ENTRIES = 1 << 25


@dataclass(frozen=True)
class WErrorCurve(Record):
    """W-error at each rank of ``ds``.

    Attributes
    ----------
    ds : ndarray of int
    w_error : ndarray
        ``sqrt(S(d) / ||M||_F^2)`` (estimate for ``slq``), in ``[0, 1]``.
    stderr : ndarray or None
        ``slq``: one standard error of ``w_error`` over the probes (statistical part only).
    error : ndarray or None
        ``slq``: the stated error (module docstring): its quadrature and deflation parts
        are proved, its probe part is three standard errors over the random probes, so
        ``|w_error - W_err(d)| <= error`` holds with high probability, not always;
        ``w_lower``/``w_upper`` (``lower``/``upper``) is the bracket itself, asymmetric.
    method : str
    shape : tuple
        ``(N, V)`` of the matrix; ``observed_columns`` of them were non-zero.
    frobenius_sq : float
    passes : int
        Passes over the matrix's row blocks (the work; machine-independent).
    probes, lanczos_steps, deflation : int
        ``slq`` parameters actually used (0 for ``exact``).
    """

    ds: np.ndarray
    w_error: np.ndarray
    stderr: np.ndarray | None
    error: np.ndarray | None
    method: str
    shape: tuple
    observed_columns: int
    frobenius_sq: float
    passes: int
    probes: int = 0
    lanczos_steps: int = 0
    deflation: int = 0
    w_lower: np.ndarray | None = None
    w_upper: np.ndarray | None = None

    def __post_init__(self):
        for name in ("ds", "w_error", "stderr", "error", "w_lower", "w_upper"):
            a = getattr(self, name)
            if a is not None:
                a = np.array(a, copy=True)
                a.setflags(write=False)
                object.__setattr__(self, name, a)

    def __array__(self, dtype=None, copy=None):
        return np.array(self.w_error, dtype=dtype)

    @property
    def lower(self) -> np.ndarray:
        """The stated lower end for ``W_err(d)`` (``w_error`` for the exact method)."""
        return self.w_error if self.w_lower is None else self.w_lower

    @property
    def upper(self) -> np.ndarray:
        """The stated upper end for ``W_err(d)`` (``w_error`` for the exact method)."""
        return self.w_error if self.w_upper is None else self.w_upper


def exact_tails(blocks: GramBlocks) -> np.ndarray:
    """``S(d)`` for ``d = 0 .. side``, exact. A matrix of at most
    :data:`DENSE_SVD_MAX_ENTRIES` entries: the squared singular values of its SVD. A larger
    one: eigenvectors ``u_j`` of the smaller Gram (by decreasing eigenvalue), then
    ``S(d) = sum_{j>d} ||M u_j||^2`` recomputed from the data. Near a zero tail this is
    limited by the Gram itself: ``u^T G u`` of a computed null vector is of order
    ``eps lambda_1``, so ``W(d)`` there can read up to about ``sqrt(side eps)`` (1.4e-8
    was measured at side 248) instead of 0.
    Away from zero tails the energies keep small values that the Gram's eigenvalues alone
    lose (0.8 % off at singular values 1 and 1e-7, proofs/w_error_estimators.md), and they
    are never below the true tail (Ky Fan: ``sum_{j<=d} ||M u_j||^2 <= sum_{i<=d}
    lambda_i``)."""
    n, _ = blocks.shape
    if n * blocks.n_columns <= DENSE_SVD_MAX_ENTRIES:
        M = blocks.local_matrix()
        M = M.toarray() if hasattr(M, "toarray") else np.asarray(M)
        blocks.count_pass()
        sigma = np.linalg.svd(M, compute_uv=False)
        energy = sigma**2
    elif n < blocks.n_columns:
        M = blocks.local_matrix()
        blocks.count_pass()
        K = M @ M.T
        K = K.toarray() if hasattr(K, "toarray") else np.asarray(K)
        lam, V = scipy.linalg.eigh(K, overwrite_a=True, check_finite=False)
        Y = np.asarray(M.T @ V[:, ::-1])
        energy = np.einsum("ij,ij->j", Y, Y)
    else:
        lam, U = scipy.linalg.eigh(blocks.gram(), overwrite_a=True, check_finite=False)
        energy = blocks.energy_along(U[:, ::-1])
    total = blocks.frobenius_sq
    ascending = np.concatenate([[0.0], np.cumsum(energy[::-1])])  # the j smallest
    tails = ascending[::-1]  # tails[d] = energy beyond the d largest directions
    return np.minimum(tails, total)


def _deflation(blocks: GramBlocks, k: int, power_iterations: int, rng):
    """``(Q, theta, sigma_B)``: orthonormal ``Q`` spanning ``G^q Omega``, the eigenvalues of
    ``Q^T G Q`` and the singular values of ``Q_perp^T G Q`` (from the residual)."""
    n = blocks.n_columns
    if k == 0:
        return np.zeros((n, 0)), np.zeros(0), np.zeros(0)
    Q = np.linalg.qr(rng.standard_normal((n, k)))[0]
    for _ in range(power_iterations):
        Q = np.linalg.qr(blocks.gram_times(Q))[0]
    GQ = blocks.gram_times(Q)
    A = Q.T @ GQ
    A = (A + A.T) / 2
    residual = GQ - Q @ A
    residual -= Q @ (Q.T @ residual)  # exactly in the complement of Q
    sigma_b = np.linalg.svd(residual, compute_uv=False)
    return Q, np.clip(np.linalg.eigvalsh(A), 0.0, None), sigma_b


def _lanczos(blocks: GramBlocks, Q: np.ndarray, W0: np.ndarray, steps: int):
    """Lanczos on ``P G P`` (``P = I - QQ^T``) from each column of ``W0`` at once, with full
    reorthogonalisation. Returns per probe ``(alpha, beta)`` lists (lengths at breakdown)."""
    n, b = W0.shape

    def project(X):
        return X - Q @ (Q.T @ X) if Q.shape[1] else X

    basis = np.zeros((steps, n, b))
    q = W0 / np.linalg.norm(W0, axis=0)
    alphas, betas = np.zeros((steps, b)), np.zeros((steps, b))
    live = np.ones(b, dtype=bool)
    length = np.full(b, steps)
    for j in range(steps):
        basis[j] = q
        z = project(blocks.gram_times(q))
        alphas[j] = np.einsum("vb,vb->b", q, z)
        for _ in range(2):  # classical Gram-Schmidt, twice, against the whole basis
            coef = np.einsum("jvb,vb->jb", basis[: j + 1], z)
            z -= np.einsum("jvb,jb->vb", basis[: j + 1], coef)
        z = project(z)
        beta = np.linalg.norm(z, axis=0)
        scale = np.maximum(np.abs(alphas[: j + 1]).max(axis=0), 1e-300)
        done = live & (beta <= 1e-10 * scale)
        length[done] = j + 1
        live &= ~done
        betas[j] = np.where(live, beta, 0.0)
        if not live.any() or j == steps - 1:
            break
        q = np.where(live, z / np.where(beta > 0, beta, 1.0), 0.0)
    return [(alphas[: length[i], i], betas[: length[i] - 1, i]) for i in range(b)]


def _quadrature(alpha: np.ndarray, beta: np.ndarray):
    """Gauss nodes and weights (summing to 1) of a Lanczos tridiagonal."""
    if alpha.size == 1:
        return np.clip(alpha, 0.0, None), np.ones(1)
    theta, U = scipy.linalg.eigh_tridiagonal(alpha, beta)
    return np.clip(theta, 0.0, None), U[0] ** 2


def _min_trace(nodes: np.ndarray, weights: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """``sum_j weights_j min(nodes_j, t)`` for every ``t`` of ``ts``."""
    order = np.argsort(nodes)
    x, w = nodes[order], weights[order]
    below_mass = np.concatenate([[0.0], np.cumsum(w * x)])
    above_weight = np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]])
    idx = np.searchsorted(x, ts, side="right")  # nodes <= t contribute x, others t
    return below_mass[idx] + ts * above_weight[idx]


def chebyshev_kink_error(n: int, a: np.ndarray, extra_terms: int | None = None) -> np.ndarray:
    """An upper bound on ``max_{y in [-1, 1]} | |y - a| - p_n(y) |`` for the degree-``n``
    Chebyshev truncation ``p_n`` of ``|y - a|`` (so on its best approximation error).

    The coefficients are ``c_k = 4 (sin(k phi) cos(phi) - k sin(phi) cos(k phi)) / (pi k (k^2
    - 1))`` for ``k >= 2`` (``a = cos phi``), and the numerator is at most ``(k^2 - 1)(1 -
    |a|)`` and at most ``1 + k sin(phi)``; the sum over ``k > n`` is taken term by term to
    ``K = 4n + 100``, then bounded in closed form (proofs/w_error_estimators.md, Claim 4).
    """
    a = np.clip(np.asarray(a, dtype=np.float64), -1.0, 1.0)
    s = np.sqrt(np.maximum(1.0 - a * a, 0.0))
    big_k = 4 * n + 100 if extra_terms is None else n + int(extra_terms)
    out = np.zeros(a.shape)
    for start in range(max(n + 1, 2), big_k + 1, 512):
        k = np.arange(start, min(start + 512, big_k + 1), dtype=np.float64)[:, None]
        term = np.minimum(1.0 - np.abs(a)[None, :], (1.0 + k * s[None, :]) / (k * k - 1.0))
        out += np.sum(4.0 / (math.pi * k) * term, axis=0)
    if n < 1:  # c_1 = (2 phi - sin 2 phi - pi) / pi is not covered by the k >= 2 formula
        phi = np.arccos(a)
        out += np.abs(2 * phi - np.sin(2 * phi) - math.pi) / math.pi
    tail = 1.0 / (2 * big_k * (big_k + 1)) + s * (1.0 / (2 * big_k) + 1.0 / (2 * (big_k + 1)))
    return out + 4.0 / math.pi * tail


def _quadrature_error(ts: np.ndarray, lengths, norms_sq, lam_max: float) -> np.ndarray:
    """Claim 4 per ``t``: the mean over probes of ``||w||^2 (Lambda / 2) E_{2m-1}(t)``,
    ``E`` the :func:`chebyshev_kink_error` of the kink at ``a = 2 t / Lambda - 1`` (0 for a
    probe whose Lanczos broke down: its quadrature is exact)."""
    if lam_max <= 0.0:
        return np.zeros(ts.shape)
    a = 2.0 * ts / lam_max - 1.0
    out = np.zeros(ts.shape)
    for m in np.unique([m for m, exact in lengths if not exact]):
        weight = sum(w for (mm, exact), w in zip(lengths, norms_sq) if mm == m and not exact)
        out += weight * (lam_max / 2.0) * chebyshev_kink_error(2 * int(m) - 1, a)
    return out / len(lengths)


def slq_tails(
    blocks: GramBlocks,
    ds: np.ndarray,
    *,
    probes: int,
    steps: int,
    deflation: int,
    power_iterations: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(S_hat(d), stderr(d), S_low(d), S_high(d))`` for each ``d`` of ``ds`` (module
    docstring, proofs/w_error_estimators.md Claims 2-5); ``S(d) = 0`` exactly for
    ``d >= min(N, V_obs)``, the largest possible rank. When ``V_obs <= steps`` the Krylov
    space would be the whole space, and the exact tails (:func:`exact_tails`) are used."""
    rng = np.random.default_rng(seed)
    n = blocks.n_columns
    if n <= steps:  # the Krylov space would be the whole space: the curve exactly
        tails = exact_tails(blocks)
        S = np.where(ds < tails.size, tails[np.minimum(ds, tails.size - 1)], 0.0)
        S[ds >= min(n, blocks.shape[0])] = 0.0
        return S, np.zeros(ds.size), S.copy(), S.copy()
    k = min(deflation, n)
    Q, theta, sigma_b = _deflation(blocks, k, power_iterations, rng)
    rest = n - k
    probe_nodes, probe_weights, lengths, norms_sq = [], [], [], np.zeros(0)
    if rest > 0:
        Z = rng.choice([-1.0, 1.0], size=(n, probes))
        W0 = Z - Q @ (Q.T @ Z) if k else Z
        norms_sq = np.einsum("vb,vb->b", W0, W0)
        for i, (a, b) in enumerate(_lanczos(blocks, Q, W0, min(steps, rest))):
            nodes, weights = _quadrature(a, b)
            probe_nodes.append(nodes)
            probe_weights.append(weights * norms_sq[i])
            lengths.append((a.size, a.size < min(steps, rest)))  # breakdown: exact rule
    lam_max = max([float(x.max()) for x in probe_nodes] + [0.0])
    ts = np.unique(np.concatenate([[0.0], theta, *probe_nodes, np.linspace(0, lam_max, 257)]))
    total = _min_trace(theta, np.ones(k), ts)
    quad = np.zeros(ts.shape)
    stat = 0.0
    c_stderr = np.zeros(ts.shape)
    if probe_nodes:
        per_probe = np.stack([_min_trace(x, w, ts) for x, w in zip(probe_nodes, probe_weights)])
        # tr C = F - tr A is known exactly: min(C, t) = C - (C - t)_+, so per t the mean of
        # the probes' q(t) or tr C minus the mean of their (q's trace - q(t)), whichever has
        # the smaller sample variance (for large t the second has almost none)
        trace_c = max(blocks.frobenius_sq - float(theta.sum()), 0.0)
        h = np.array([float(np.sum(w * x)) for x, w in zip(probe_nodes, probe_weights)])
        complement = per_probe - h[:, None]
        if probes > 1:
            var_direct = per_probe.var(axis=0, ddof=1)
            var_complement = complement.var(axis=0, ddof=1)
            use_complement = var_complement < var_direct
            c_stderr = np.sqrt(np.minimum(var_direct, var_complement) / probes)
        else:
            use_complement = np.ones(ts.shape, dtype=bool)
        estimate = np.where(
            use_complement, trace_c + complement.mean(axis=0), per_probe.mean(axis=0)
        )
        total = total + estimate
        stat = 3.0 * float(np.max(c_stderr))
        quad = _quadrature_error(ts, lengths, norms_sq, lam_max)
    values = total[None, :] - ds[:, None] * ts[None, :]
    best = np.argmax(values, axis=1)
    rows = np.arange(ds.size)
    S = np.maximum(values[rows, best], 0.0)
    # Claim 5: S_pinch >= S_hat - e(t_hat); S_pinch <= S_hat + max_t [e(t) + g(t) - g(t_hat)]
    down = quad[best]
    up = np.max(quad[None, :] + values - values[rows, best][:, None], axis=1)
    pinch = np.array([float(np.sum(sigma_b[: min(int(d), k)])) for d in ds])
    # floating-point rounding of the sums that make S_hat (differences of numbers of size F)
    rounding = 8.0 * (ts.size + n) * np.finfo(np.float64).eps * blocks.frobenius_sq
    low = np.maximum(S - down - stat - pinch - rounding, 0.0)  # Claim 2: S >= S_pinch - pinch
    high = S + up + stat + rounding
    full = ds >= min(n, blocks.shape[0])
    S[full], low[full], high[full] = 0.0, 0.0, 0.0
    return S, np.where(full, 0.0, c_stderr[best]), low, high
