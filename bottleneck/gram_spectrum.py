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
  3. *the stated error* of ``S(d)``: since ``max_t`` is 1-Lipschitz in the sup norm,
     ``|S_hat(d) - S_pinch(d)| <= sup_t |estimate(t) - tr min(C, t)|``, bounded by
     (a) the Gauss quadrature error, at most ``||w||^2 2 Lambda / (pi (2m - 1))`` per probe
     (the Chebyshev series of ``|x|`` truncated at degree ``2m - 1`` is within
     ``2 / (pi (2m - 1))`` of it on ``[-1, 1]``, and ``min(x, t) = (x + t - |x - t|) / 2``;
     ``Lambda``: the largest Ritz value, which Lanczos finds first), plus (b) three standard
     errors over the probes (Hutchinson's estimator; the one statistical part), plus the
     pinching term of step 1. ``error`` reports it in W-error units.

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
        ``slq``: the stated error, ``|w_error - W_err(d)| <= error`` (module docstring).
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

    def __post_init__(self):
        for name in ("ds", "w_error", "stderr", "error"):
            a = getattr(self, name)
            if a is not None:
                a = np.array(a, copy=True)
                a.setflags(write=False)
                object.__setattr__(self, name, a)

    def __array__(self, dtype=None, copy=None):
        return np.array(self.w_error, dtype=dtype)

    @property
    def lower(self) -> np.ndarray:
        """``max(w_error - error, 0)`` (``w_error`` for the exact method)."""
        return self.w_error if self.error is None else np.maximum(self.w_error - self.error, 0)

    @property
    def upper(self) -> np.ndarray:
        """``min(w_error + error, 1)`` (``w_error`` for the exact method)."""
        return self.w_error if self.error is None else np.minimum(self.w_error + self.error, 1)


def exact_tails(blocks: GramBlocks) -> np.ndarray:
    """``S(d)`` for ``d = 0 .. side``, exact: eigenvectors ``u_j`` of the smaller Gram
    (by decreasing eigenvalue), then ``S(d) = sum_{j>d} ||M u_j||^2`` recomputed from the
    data. The Gram's eigenvalues alone lose small values below ``side * eps *
    lambda_max`` (a W-error error up to ``sqrt(side * eps)``, 1e-7 at side 300); the energy
    along the computed eigenvectors keeps them to rounding of their own size, and is never
    below the true tail (Ky Fan: ``sum_{j<=d} ||M u_j||^2 <= sum_{i<=d} lambda_i``)."""
    n, _ = blocks.shape
    if n < blocks.n_columns:
        M = blocks.local_matrix()
        blocks.passes += 1
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


def slq_tails(
    blocks: GramBlocks,
    ds: np.ndarray,
    *,
    probes: int,
    steps: int,
    deflation: int,
    power_iterations: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(S_hat(d), stderr(d), error(d))`` for each ``d`` of ``ds`` (module docstring);
    ``S(d) = 0`` exactly for ``d >= min(N, V_obs)``, the largest possible rank."""
    rng = np.random.default_rng(seed)
    n = blocks.n_columns
    k = min(deflation, n)
    Q, theta, sigma_b = _deflation(blocks, k, power_iterations, rng)
    rest = n - k
    probe_nodes, probe_weights, quad_bound = [], [], []
    if rest > 0:
        Z = rng.choice([-1.0, 1.0], size=(n, probes))
        W0 = Z - Q @ (Q.T @ Z) if k else Z
        norms_sq = np.einsum("vb,vb->b", W0, W0)
        for i, (a, b) in enumerate(_lanczos(blocks, Q, W0, min(steps, rest))):
            nodes, weights = _quadrature(a, b)
            probe_nodes.append(nodes)
            probe_weights.append(weights * norms_sq[i])
            exact = a.size < min(steps, rest)  # breakdown: the Krylov space is invariant
            quad_bound.append(0.0 if exact else norms_sq[i] * 2.0 / (math.pi * (2 * a.size - 1)))
    lam_max = max([float(x.max()) for x in probe_nodes] + [0.0])
    ts = np.unique(np.concatenate([[0.0], theta, *probe_nodes]))
    a_part = _min_trace(theta, np.ones(k), ts)
    if probe_nodes:
        per_probe = np.stack([_min_trace(x, w, ts) for x, w in zip(probe_nodes, probe_weights)])
        c_part = per_probe.mean(axis=0)
        c_stderr = per_probe.std(axis=0, ddof=1) / math.sqrt(probes) if probes > 1 else 0 * ts
        c_error = float(np.mean(quad_bound)) * lam_max + 3.0 * float(np.max(c_stderr))
    else:
        c_part, c_stderr, c_error = 0 * ts, 0 * ts, 0.0
    total = a_part + c_part
    values = total[None, :] - ds[:, None] * ts[None, :]
    best = np.argmax(values, axis=1)
    S = np.maximum(values[np.arange(ds.size), best], 0.0)
    pinch = np.array([float(np.sum(sigma_b[: min(int(d), k)])) for d in ds])
    full = ds >= min(n, blocks.shape[0])
    S[full] = 0.0
    stderr = np.where(full, 0.0, c_stderr[best])
    error = np.where(full, 0.0, c_error + pinch)
    return S, stderr, error
