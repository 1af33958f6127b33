"""Starting points of :func:`bottleneck.solve`: explicit rank-``d`` heads as factors.

The problem is non-convex in the factors, so ``solve`` scores several feasible starts by
their exact gap and optimises the best ones:

* :func:`svd_start`: the truncated-SVD head behind ``U_trunc``, so ``solve <= U_trunc``;
* the Fisher solution (:mod:`bottleneck.optim.fisher`), balanced by :func:`factor_logits`;
* :func:`warm_starts`: a smaller-rank solution extended along steepest rank-one directions
  (:func:`pad_factors`), as :func:`bottleneck.sweep` does;
* :func:`zeros_start`: small random factors.

Every start is returned as ``(H, W, b)`` with ``H`` (N, d), ``W`` (V, d) and ``b`` (V,) or
None.
"""

from __future__ import annotations

import numpy as np

from ..explicit import default_floors, factored_truncated_head, truncated_svd_factors
from ..target import DENSE_LIMIT, Target, log_softmax

__all__ = [
    "FISHER_START_LIMIT",
    "svd_start",
    "factor_logits",
    "pad_factors",
    "warm_starts",
    "zeros_start",
]

#: Entries of P up to which ``init="auto"`` also tries the (dense) Fisher start.
FISHER_START_LIMIT = 2**22


def svd_start(target: Target, d: int):
    """Balanced truncated-SVD factors, zero-padded to rank ``d``.

    The same gauge for every storage, so dense and factored copies of a target follow the
    same optimisation path. For targets with zeros, the floor of ``log max(P, floor)`` with
    the lowest gap among :func:`bottleneck.explicit.default_floors`, so the start is the
    head behind ``bounds(...).details["U_trunc"]`` and ``solve <= U_trunc``.
    """
    if target.has_factors:
        H, W, b, _ = factored_truncated_head(target, d)
    else:
        # only the top d triplets are needed here (not the tail energy of a full SVD):
        # Lanczos where it applies, as spectrum's "auto" would choose
        method = "lanczos" if d + 1 <= min(target.shape) / 4 else "auto"
        floors = [None] if target.has_full_support else default_floors(target)
        heads = [truncated_svd_factors(target, d, floor=fl, method=method) for fl in floors]
        H, W, b = min(heads, key=lambda f: target.gap_factors(*f)) if len(heads) > 1 else heads[0]
    Hp, Wp = np.zeros((H.shape[0], d)), np.zeros((W.shape[0], d))
    Hp[:, : H.shape[1]], Wp[:, : W.shape[1]] = H, W
    if target.bias and b is None:
        b = np.zeros(W.shape[0])
    return Hp, Wp, b


def factor_logits(Z: np.ndarray, d: int, bias: bool):
    """Balanced factors ``H = U sqrt(S)``, ``W = V sqrt(S)`` of logits ``Z`` of rank ``<= d``
    (after removing the column means into the bias ``b`` when ``bias``)."""
    b = None
    if bias:
        b = Z.mean(axis=0)
        Z = Z - b
    if d == 0:
        return np.zeros((Z.shape[0], 0)), np.zeros((Z.shape[1], 0)), b
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    k = min(d, s.size)
    H = np.zeros((Z.shape[0], d))
    W = np.zeros((Z.shape[1], d))
    r = np.sqrt(s[:k])
    H[:, :k] = U[:, :k] * r
    W[:, :k] = Vt[:k].T * r
    return H, W, b


def pad_factors(H0: np.ndarray, W0: np.ndarray, b0, target: Target, d: int, scale: float):
    """Extend rank-``d0`` factors to rank ``d`` along the steepest rank-one descent directions.

    Zero-padding is a saddle (the new columns get zero gradient); instead each new column
    pair is ``scale (u_k, -v_k)`` with ``u_k, v_k`` the top singular pairs of ``dG/dZ``.
    Targets too large for a dense gradient get small random directions instead. The caller
    scores several scales and keeps the best.
    """
    extra = d - H0.shape[1]
    n, v = target.shape
    Hn = np.zeros((n, extra))
    Wn = np.zeros((v, extra))
    if n * v <= DENSE_LIMIT:
        Gz = np.empty((n, v))
        w = np.asarray(target.weights)
        for sl, p, _ in target.iter_rows():
            Z = H0[sl] @ W0.T + (0.0 if b0 is None else b0)
            Gz[sl] = (np.exp(log_softmax(Z)) - p) * w[sl, None]
        U, s, Vt = np.linalg.svd(Gz, full_matrices=False)
        k = min(extra, s.size)
        Hn[:, :k] = U[:, :k] * scale
        Wn[:, :k] = -Vt[:k].T * scale
    else:
        rng = np.random.default_rng(extra)
        Hn = np.linalg.qr(rng.standard_normal((n, extra)))[0] * scale
        Wn = np.linalg.qr(rng.standard_normal((v, extra)))[0] * scale
    b = None if b0 is None else b0.copy()
    return np.hstack([H0, Hn]), np.hstack([W0, Wn]), b


def warm_starts(solution, target: Target, d: int, bias: bool) -> list[tuple]:
    """``(name, H, W, b)`` starts from a solution of rank ``<= d`` of the same problem: the
    solution itself at equal rank; else padded along steepest directions at three scales
    and zero-padded (a saddle, but with the solution's gap)."""
    n, v = target.shape
    if solution.H.shape != (n, solution.d) or solution.W.shape[0] != v or solution.d > d:
        raise ValueError(
            f"init Solution has rank {solution.d} / shapes {solution.H.shape}, "
            f"{solution.W.shape}; need rank <= {d} on a {n} x {v} target"
        )
    if (solution.bias is not None) != bias:
        raise ValueError("init Solution and this solve disagree on the bias")
    if solution.d == d:
        return [("warm", solution.H, solution.W, solution.bias)]
    H0, W0, b0 = solution.H, solution.W, solution.bias
    starts = [
        (f"warm (pad {scale:g})", *pad_factors(H0, W0, b0, target, d, scale))
        for scale in (1e-2, 1e-3, 1e-4)
    ]
    extra = d - solution.d
    starts.append(
        (
            "warm-zero-pad",
            np.hstack([H0, np.zeros((n, extra))]),
            np.hstack([W0, np.zeros((v, extra))]),
            b0,
        )
    )
    return starts


def zeros_start(target: Target, d: int, bias: bool, seed: int):
    """Factors with ``1e-3 N(0, 1)`` entries (seeded) and a zero bias: nearly ``Z = 0``."""
    n, v = target.shape
    rng = np.random.default_rng(seed)
    return (
        1e-3 * rng.standard_normal((n, d)),
        1e-3 * rng.standard_normal((v, d)),
        np.zeros(v) if bias else None,
    )
