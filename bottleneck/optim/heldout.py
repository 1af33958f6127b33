"""The held-out side of the population bracket: a fitted head ``W`` on new contexts.

For a head ``W`` (V, d) (and bias ``b``) fitted on one sample of contexts, each context ``x``
of another sample gets its own best feature vector,

    g_W(x) = min_{h in R^d} KL(p_x || softmax(W h + b)),

a smooth convex problem in ``h`` (the log-partition is convex, the rest is linear in ``h``).
:func:`heldout_gap` returns ``sum_i pi_i g_W(x_i)`` over the target's contexts with its
standard error. Since ``W`` is a feasible head for the population problem,
``E_x[g_W(x)] >= G*_pop(d) = min_W E_x[g_W(x)]``; on a sample independent of ``W`` the mean
of ``g_W`` is unbiased for ``E_x[g_W(x)]``, so the held-out gap is an upper estimate of
``G*_pop(d)``. Statement and proof: ``proofs/heldout_bracket.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validation as _v
from .._result import Record
from ..target import Target, kl_rows, log_softmax

__all__ = ["HeldoutGap", "heldout_gap"]

#: float64 entries of the per-chunk Hessian work array ``(rows, V, d)`` (about 64 MB)
_WORK_ENTRIES = 8_000_000
_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class HeldoutGap(Record):
    """Result of :func:`heldout_gap`.

    Attributes
    ----------
    d : int
        Rank of the head.
    gap : float
        ``sum_i pi_i g_W(x_i) / sum_i pi_i`` (nats/token), evaluated in float64 at the
        returned per-row ``h_i``; each term is within the stated tolerance of its row's
        minimum (an upper estimate of ``G*_pop(d)``, ``proofs/heldout_bracket.md``).
    stderr : float
        Standard error of the weighted mean over contexts (contexts taken as i.i.d.).
    n_contexts : int
    per_context : ndarray, shape (N,)
        ``g_W(x_i)``, read-only.
    H : ndarray, shape (N, d)
        The per-row minimisers, read-only.
    max_grad_norm : float
        ``max_i ||W^T (q_i - p_i)||_2`` at the returned ``h_i``.
    tol : float
    status : str
        ``"converged"`` when every row reached ``||W^T (q_i - p_i)|| <= tol`` and a Newton
        decrement ``<= tol``, else ``"max_iter"`` (the budget ran out, or a row's line
        search could not lower its value further).
    iterations : int
        Newton steps of the slowest row.
    """

    d: int
    gap: float
    stderr: float
    n_contexts: int
    per_context: np.ndarray
    H: np.ndarray
    max_grad_norm: float
    tol: float
    status: str
    iterations: int

    record_properties = ("success",)

    def __post_init__(self):
        for name in ("per_context", "H"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def success(self) -> bool:
        return self.status == "converged"


def _row_values(Hc, W, b, p, logp):
    """``KL(p_i || softmax(W h_i + b))`` per row and ``q``, for a chunk of rows."""
    Z = Hc @ W.T
    if b is not None:
        Z = Z + b
    logq = log_softmax(Z)
    return kl_rows(p, logp, logq), np.exp(logq)


def _newton_direction(W, q, grad):
    """Newton directions ``-(W^T (diag q - q q^T) W + ridge)^{-1} g`` of a set of rows (the
    tiny ridge keeps singular Hessians solvable; steepest descent where the solve fails)."""
    Wq = q @ W
    hess = np.einsum("nv,vd,ve->nde", q, W, W, optimize=True)
    hess -= Wq[:, :, None] * Wq[:, None, :]
    scale = np.maximum(np.trace(hess, axis1=1, axis2=2), 1e-300)
    hess += (1e-12 * scale)[:, None, None] * np.eye(W.shape[1])
    with np.errstate(all="ignore"):
        direction = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
    bad = ~np.isfinite(direction).all(axis=1)
    direction[bad] = -grad[bad]
    return direction


def _newton_chunk(W, b, p, logp, h0, tol, max_iter):
    """Damped Newton with a backtracking (Armijo) line search, each row separately.

    A row is done when ``||g|| <= tol`` and its Newton decrement ``g^T H^{-1} g <= tol``
    (the gradient alone says little where the curvature is tiny), or when no step of the
    line search lowers its value (stalled). Returns ``(h, values, grad norms, converged
    mask, steps of the slowest row)``."""
    h = h0.copy()
    vals, q = _row_values(h, W, b, p, logp)
    n = h.shape[0]
    converged, stalled = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    steps = 0
    for _ in range(max_iter + 1):
        ia = np.flatnonzero(~(converged | stalled))
        if ia.size == 0:
            break
        grad = (q[ia] - p[ia]) @ W
        direction = _newton_direction(W, q[ia], grad)
        slope = np.einsum("nd,nd->n", grad, direction)
        met = (np.linalg.norm(grad, axis=1) <= tol) & (-slope <= tol)
        converged[ia[met]] = True
        if steps == max_iter or met.all():
            break
        ia, direction, slope = ia[~met], direction[~met], slope[~met]
        steps += 1
        t = np.ones(ia.size)
        pending = np.ones(ia.size, dtype=bool)
        for _ in range(60):
            trial = h[ia[pending]] + t[pending, None] * direction[pending]
            with np.errstate(over="ignore", invalid="ignore"):
                tv, tq = _row_values(trial, W, b, p[ia[pending]], logp[ia[pending]])
            v0 = vals[ia[pending]]
            # Armijo, with the value's rounding as slack: near the minimum the decrease of a
            # Newton step falls below it while the gradient still shrinks quadratically
            ok = np.isfinite(tv) & (
                tv <= v0 + 1e-4 * t[pending] * slope[pending] + 8 * _EPS * np.maximum(v0, 1.0)
            )
            rows = ia[pending][ok]
            h[rows], vals[rows], q[rows] = trial[ok], tv[ok], tq[ok]
            still = np.flatnonzero(pending)[~ok]
            pending[:] = False
            pending[still] = True
            if not pending.any():
                break
            t[pending] *= 0.5
        stalled[ia[pending]] = True
    gnorm = np.linalg.norm((q - p) @ W, axis=1)
    return h, vals, gnorm, converged, steps


def _check_pair(solution, target):
    if not isinstance(target, Target):
        raise TypeError(f"target must be a bottleneck.Target; got {type(target).__name__}")
    W = getattr(solution, "W", None)
    if W is None or not hasattr(solution, "bias"):
        raise TypeError(
            f"solution must be a Solution (with W and bias); got {type(solution).__name__}"
        )
    W = _v.as_real_array(W, "solution.W")
    if W.ndim != 2 or W.shape[0] != target.vocab_size:
        raise ValueError(
            f"vocabulary mismatch: the head has W of shape {W.shape}, the target has "
            f"V = {target.vocab_size} tokens"
        )
    b = solution.bias
    if (b is not None) != target.bias:
        has = "has a bias" if b is not None else "has no bias"
        wants = "with" if target.bias else "without"
        raise ValueError(
            f"the solution {has} but the target is {wants} bias: fit and evaluate the same "
            "model (Target.with_bias)"
        )
    if b is not None:
        b = _v.as_real_array(b, "solution.bias")
        if b.shape != (target.vocab_size,):
            raise ValueError(f"solution.bias must have shape ({target.vocab_size},)")
    if not np.isfinite(W).all() or (b is not None and not np.isfinite(b).all()):
        raise ValueError("the solution's head is not finite")
    return W, b


def heldout_gap(
    solution,
    target: Target,
    *,
    tol: float = 1e-9,
    max_iter: int = 200,
    start=None,
    chunk_size=None,
) -> HeldoutGap:
    """Held-out gap of a fitted head: ``sum_i pi_i min_h KL(p_i || softmax(W h + b))``.

    Formula: for ``W = solution.W`` (V, d) and ``b = solution.bias`` (V,) or None, each
    context ``i`` of ``target`` gets ``g_i = min_{h in R^d} KL(p_i || softmax(W h + b))``
    (convex in ``h``), solved by damped Newton to ``||W^T (q_i - p_i)||_2 <= tol`` and a
    Newton decrement ``g^T H^{-1} g <= tol`` (nats; twice the quadratic model's decrease); the
    result is ``gap = sum_i pi_i g_i / sum_i pi_i`` with the weighted standard error
    ``sqrt(n/(n-1) sum_i w_i^2 (g_i - gap)^2)``, ``w = pi / sum pi``.

    What it brackets (``proofs/heldout_bracket.md``): with ``W`` fitted on a sample
    independent of ``target``'s contexts, ``E[gap] = E_x[g_W(x)] >= G*_pop(d)``; on the train
    sample itself, ``gap <= solution.gap``, with equality when the solution is stationary.

    Rows are processed in chunks (memory ``O(chunk V d)``, never ``N x V`` at once), so
    factored targets stream. ``tol`` is absolute (nats per unit of ``h``); the result's
    ``status`` says whether every row reached it. ``start`` (N, d), default zeros: the
    starting ``h_i`` (the steps never raise a row's value by more than its rounding, so on
    the train sample ``start=solution.H`` gives ``gap <= solution.gap`` to rounding even
    where a row's infimum lies at infinity). Units: nats per token.
    """
    W, b = _check_pair(solution, target)
    tol = _v.check_real(tol, "tol", minimum=0.0, strict=True)
    max_iter = _v.check_int(max_iter, "max_iter", minimum=1)
    d = W.shape[1]
    n = target.n_contexts
    chunk = _v.check_optional_int(chunk_size, "chunk_size", minimum=1) or max(
        1, min(n, _WORK_ENTRIES // max(target.vocab_size * max(d, 1), 1))
    )
    if start is None:
        H = np.zeros((n, d))
    else:
        H = _v.as_real_array(start, "start").astype(np.float64, copy=True)
        if H.shape != (n, d) or not np.isfinite(H).all():
            raise ValueError(f"start must be a finite (N, d) = ({n}, {d}) array; got {H.shape}")
    values = np.empty(n)
    gnorm = np.zeros(n)
    converged = np.ones(n, dtype=bool)
    steps = 0
    for sl, p, logp in target.iter_rows(chunk):
        h, vals, g, ok, s = _newton_chunk(W, b, p, logp, H[sl], tol, max_iter)
        H[sl], values[sl], gnorm[sl], converged[sl] = h, vals, g, ok
        steps = max(steps, s)
    w = target.weights / target.weights.sum()
    gap = float(w @ values)
    stderr = float(np.sqrt(n / (n - 1) * (w**2 @ (values - gap) ** 2))) if n > 1 else float("nan")
    max_g = float(gnorm.max()) if n else 0.0
    return HeldoutGap(
        d=int(d),
        gap=gap,
        stderr=stderr,
        n_contexts=int(n),
        per_context=values,
        H=H,
        max_grad_norm=max_g,
        tol=float(tol),
        status="converged" if converged.all() else "max_iter",
        iterations=int(steps),
    )
