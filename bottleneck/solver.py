"""The numerical optimum ``G*(d)``: :func:`solve` and :func:`sweep` (docs/theory.md §4).

``solve`` minimises ``G(H W^T (+ 1 b^T))`` over the factors, float64 on CPU, float32 on
CUDA. The default method is trust-region Newton–CG (:func:`minimize_factors_newton`) with
exact Hessian-vector products, one pass over the rows per accepted step; diagonally
preconditioned L-BFGS (:func:`minimize_factors`) is ``method="lbfgs"``. It starts from the
best of several feasible points (truncated SVD of ``A_pi``, the Fisher solution, a
smaller-``d`` solution), stops when the Riemannian gradient norm (first-order optimality
on the rank-``d`` manifold, gauge-invariant) falls below ``tol``, and recomputes the gap in
float64 at the final point with :meth:`Target.gap`. Because the final point is an explicit
rank-``d`` head, the reported ``gap`` is a certified upper bound on ``G*(d)`` (whether or
not the run converged); ``converged`` says whether it is also a first-order stationary
point. The problem is non-convex in the factors: a converged run is a stationary point, not
necessarily the global optimum (tests check it against brute force on tiny instances and
against the certified lower bounds). Speed against Adam: ``experiments/bench_solver.py``.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import _validation as _v
from ._io import atomic_write_json as _atomic_write_json
from .target import DENSE_LIMIT, Target

_FISHER_START_LIMIT = 2**22  # entries of P up to which the (dense) Fisher start is tried
_FLOAT32_HVP_MIN = 2**18  # entries of P from which Newton's inner Hessian products run in float32
_CG_MEMO_ELEMENTS = (
    2**24
)  # entries of CG products H d_k kept for the rerun after a rejected step (128 MiB in float64, 64 in float32)

__all__ = ["Solution", "solve", "sweep"]


@dataclass
class Solution:
    """Result of :func:`solve` for one rank ``d``.

    Attributes
    ----------
    d : int
    gap : float
        ``G(Z)`` at the returned head, recomputed in float64 (nats/token); a certified upper
        bound on ``G*(d)``.
    loss : float
        ``H(P) + gap``.
    H : ndarray, shape (N, d)
    W : ndarray, shape (V, d)
    bias : ndarray, shape (V,) or None
    converged : bool
        True iff ``grad_norm <= tol`` at the final point.
    grad_norm : float
        Riemannian gradient norm ``||P_T(dG/dZ)||_F`` at the final point.
    iterations : int
        Newton steps (accepted or not), or L-BFGS iterations.
    seconds : float
    device : str
    init : str
        Which initialisation won.
    history : list of (float, float)
        ``(seconds since start, gap)`` after each block of iterations (convergence plots).
    """

    d: int
    gap: float
    loss: float
    H: np.ndarray
    W: np.ndarray
    bias: np.ndarray | None
    converged: bool
    grad_norm: float
    iterations: int
    seconds: float
    device: str
    init: str = ""
    tol: float = 0.0
    history: list = field(default_factory=list)

    def logits(self) -> np.ndarray:
        """``Z = H W^T (+ 1 b^T)``, shape (N, V)."""
        Z = self.H @ self.W.T
        return Z + self.bias if self.bias is not None else Z

    def to_record(self) -> dict:
        """JSON-serialisable summary (factors omitted)."""
        rec = {k: v for k, v in asdict(self).items() if k not in ("H", "W", "bias")}
        return rec

    def __str__(self) -> str:
        flag = "converged" if self.converged else "NOT converged"
        return (
            f"Solution(d={self.d}, gap={self.gap:.10g} nats/token, {flag}, "
            f"grad_norm={self.grad_norm:.2e}, iterations={self.iterations}, "
            f"{self.seconds:.2f} s on {self.device}, init={self.init!r})"
        )


# ---------------------------------------------------------------------------- initialisations
def _svd_init(target: Target, d: int):
    """Balanced truncated-SVD factors (same gauge for every storage, so dense and factored
    copies of a target follow the same optimisation path). For targets with zeros, the
    floor of ``log max(P, floor)`` with the lowest gap among :func:`bounds.default_floors`,
    so the start is the head behind ``bounds(...).U_trunc`` and ``solve <= U_trunc``."""
    from .bounds import (
        default_floors,
        factored_truncated_head,
        truncated_svd_head,
    )  # late: bounds imports nothing from here

    if target.has_factors:
        H, W, b, _ = factored_truncated_head(target, d)
    else:
        # only the top d triplets are needed here (not the tail energy of a full SVD):
        # Lanczos where it applies, as in spectrum._resolve (3x faster at 512 x 512, d = 8)
        method = "lanczos" if d + 1 <= min(target.shape) / 4 else "auto"
        floors = [None] if target.has_full_support else default_floors(target)
        heads = [
            truncated_svd_head(target, d, floor=fl, return_factors=True, method=method)
            for fl in floors
        ]
        H, W, b = min(heads, key=lambda f: target.gap_factors(*f)) if len(heads) > 1 else heads[0]
    Hp, Wp = np.zeros((H.shape[0], d)), np.zeros((W.shape[0], d))
    Hp[:, : H.shape[1]], Wp[:, : W.shape[1]] = H, W
    if target.bias and b is None:
        b = np.zeros(W.shape[0])
    return Hp, Wp, b


def _factor(Z: np.ndarray, d: int, bias: bool):
    """Balanced factors ``H = U sqrt(S)``, ``W = V sqrt(S)`` of ``Z`` (rank <= d) and its bias."""
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


def _pad(sol: Solution, target: Target, d: int, scale: float):
    """Extend a rank-``d0`` solution to rank ``d`` along the steepest rank-one descent directions.

    Zero-padding is a saddle (the new columns get zero gradient); instead each new column
    pair is ``sqrt(eps) (u_k, -v_k)`` with ``u_k, v_k`` the top singular pairs of ``dG/dZ``,
    with ``sqrt(eps) = scale``; the caller scores several scales and keeps the best.
    """
    from .target import log_softmax

    H0, W0 = sol.H, sol.W
    extra = d - H0.shape[1]
    n, v = target.shape
    Hn = np.zeros((n, extra))
    Wn = np.zeros((v, extra))
    if n * v <= DENSE_LIMIT:
        Gz = np.empty((n, v))
        w = np.asarray(target.weights)
        for sl, p, _ in target.iter_rows():
            Z = H0[sl] @ W0.T + (0.0 if sol.bias is None else sol.bias)
            Gz[sl] = (np.exp(log_softmax(Z)) - p) * w[sl, None]
        U, s, Vt = np.linalg.svd(Gz, full_matrices=False)
        k = min(extra, s.size)
        Hn[:, :k] = U[:, :k] * scale
        Wn[:, :k] = -Vt[:k].T * scale
    else:  # too large for a dense gradient: small random directions (scored like the rest)
        rng = np.random.default_rng(extra)
        Hn = np.linalg.qr(rng.standard_normal((n, extra)))[0] * scale
        Wn = np.linalg.qr(rng.standard_normal((v, extra)))[0] * scale
    b = None if sol.bias is None else sol.bias.copy()
    return np.hstack([H0, Hn]), np.hstack([W0, Wn]), b


# ---------------------------------------------------------------------------- L-BFGS driver
def _start(obj, H0, W0, b0, clock):
    """Start time, clock and the factors as tensors on the objective's device and dtype."""
    import torch

    t0 = time.perf_counter()
    clock = clock or (lambda: time.perf_counter() - t0)
    dev, dtype = obj.device, obj.dtype
    H = torch.tensor(H0, device=dev, dtype=dtype)
    W = torch.tensor(W0, device=dev, dtype=dtype)
    b = torch.tensor(b0, device=dev, dtype=dtype) if b0 is not None else None
    return t0, clock, H, W, b


def minimize_factors(
    obj,
    H0,
    W0,
    b0,
    *,
    tol: float,
    max_iter: int,
    check_every: int = 25,
    clock=None,
    max_seconds: float | None = None,
):
    """Minimise ``obj`` (a :class:`~bottleneck._objective.FactorObjective`) over factors.

    L-BFGS with strong Wolfe line search (torch) in diagonally preconditioned variables:
    every ``check_every`` iterations the factors are rescaled by the square root of the
    diagonal of the Gauss–Newton matrix (:meth:`FactorObjective.diag_curvature`), which
    evens out the very different curvatures of rows with peaked and flat predictions, and
    the Riemannian gradient norm is checked. Stops when it is ``<= tol``, when ``max_iter``
    is reached, after ``max_seconds`` (checked between blocks), or when two consecutive
    blocks no longer move the factors (stall). Once a
    block improves the value by less than ``1e-12`` relative, values are measured relative
    to the block's start point (:meth:`GapObjective.set_reference`) so the line search can
    still resolve the decrease.

    Returns ``(H, W, b, grad_norm, iterations, history)`` with float64 numpy factors and
    ``history`` a list of ``(seconds, value)`` (seconds from ``clock()``, default time since call).
    Raises FloatingPointError on a non-finite objective or factors.
    """
    import torch

    t0, clock, H, W, b = _start(obj, H0, W0, b0, clock)
    dtype = obj.dtype
    history: list[tuple[float, float]] = []
    iterations = 0
    with torch.no_grad():
        value, grad_norm = obj.stationarity(H, W, b)
    has_params = H.numel() + W.numel() + (0 if b is None else b.numel()) > 0
    relative_capable = hasattr(obj, "set_reference")
    relative = False
    stalls = 0
    while has_params and grad_norm > tol and iterations < max_iter:
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
        with torch.no_grad():
            scales = obj.diag_curvature(H, W, b)
            scales = [
                None if D is None else torch.sqrt(D + 1e-3 * D.mean() + 1e-300) for D in scales
            ]
        sH, sW, sb = scales
        X = (H * sH).requires_grad_(True)
        Y = (W * sW).requires_grad_(True)
        c = None if b is None else (b * sb).requires_grad_(True)
        params = [p for p in (X, Y, c) if p is not None and p.numel() > 0]
        opt = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=min(check_every, max_iter - iterations),
            history_size=50,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )

        def closure():
            with torch.no_grad():
                val, gH, gW, gb = obj.value_and_grad(X / sH, Y / sW, None if c is None else c / sb)
            if not torch.isfinite(val):
                raise FloatingPointError("non-finite objective")
            X.grad, Y.grad = gH / sH, gW / sW
            if c is not None:
                c.grad = gb / sb
            return val.to(dtype)

        if relative:
            obj.set_reference(H, W, b)
        opt.step(closure)
        iterations += int(opt.state[opt._params[0]].get("n_iter", 0))
        with torch.no_grad():
            Hn, Wn = X.detach() / sH, Y.detach() / sW
            bn_ = None if c is None else c.detach() / sb
            if not all(
                bool(torch.isfinite(t).all()) for t in (Hn, Wn) + (() if bn_ is None else (bn_,))
            ):
                raise FloatingPointError("non-finite factors")
            if relative:
                obj.set_reference(None, None, None)
            new_value, grad_norm = obj.stationarity(Hn, Wn, bn_)
        moved = max(
            float((Hn - H).abs().max()) if H.numel() else 0.0,
            float((Wn - W).abs().max()) if W.numel() else 0.0,
            0.0 if b is None else float((bn_ - b).abs().max()),
        )
        if (
            relative_capable
            and not relative
            and abs(value - new_value) <= 1e-12 * max(abs(value), 1e-300)
        ):
            relative = True
        H, W, b, value = Hn, Wn, bn_, new_value
        history.append((clock(), value))
        stalls = stalls + 1 if moved == 0.0 else 0
        if stalls >= 2:
            break

    def out(t):
        return None if t is None else t.detach().to(torch.float64).cpu().numpy()

    return out(H), out(W), out(b), grad_norm, iterations, history


def minimize_factors_newton(
    obj,
    H0,
    W0,
    b0,
    *,
    tol: float,
    max_iter: int,
    clock=None,
    max_seconds: float | None = None,
    max_cg: int = 100,
    hvp_dtype=None,
):
    """Trust-region Newton–CG (Steihaug–Toint) on the factors, exact Hessian products.

    In diagonally preconditioned variables (square root of the Gauss–Newton diagonal,
    refreshed every iteration), each step approximately minimises the quadratic model
    ``g^T p + p^T H p / 2`` in a ball of radius ``Delta`` by conjugate gradients, stopping
    at the boundary along negative curvature (saddles) and at a relative residual
    ``min(0.5, sqrt(||g||))`` (superlinear convergence). Steps are accepted when the actual
    decrease, measured relative to the current point (:meth:`GapObjective.set_reference`),
    is at least a tenth of the predicted one. Stops at Riemannian gradient norm ``<= tol``,
    ``max_iter`` Newton steps, ``max_seconds``, or a radius below rounding (stall).

    One pass over the rows per accepted step computes value, gradient, preconditioner and
    stopping test together and caches the softmax for the Hessian products
    (:meth:`FactorObjective.second_order_state`); a rejected step reuses it, and reuses the
    products ``H d_k`` of the CG run it rejected (up to ``_CG_MEMO_ELEMENTS`` entries): CG on
    the same model with a smaller radius follows the same iterates up to the new boundary,
    so the rerun needs no new product and gives the same step bit for bit. ``hvp_dtype``
    (e.g. ``torch.float32`` with a float64 objective) is the precision of those products and
    of the CG vectors:
    the gradient, the values and the acceptance test stay in the objective's dtype, so
    only the inner solve is inexact (inexact Newton; the stopping test is unaffected).

    Same return value as :func:`minimize_factors`.
    """
    import torch

    t0, clock, H, W, b = _start(obj, H0, W0, b0, clock)
    history: list[tuple[float, float]] = []

    # CG runs on one flat vector (H, W, b): one torch call per dot product or update,
    # which is what a CG iteration's overhead is made of on small targets
    sizes = [H.numel(), W.numel()] + ([] if b is None else [b.numel()])

    def flat(xs):
        return torch.cat([x.reshape(-1) for x in xs if x is not None])

    def unflat(v):
        parts = [
            x.view(shape)
            for x, shape in zip(torch.split(v, sizes), (H.shape, W.shape, (W.shape[0],)))
        ]
        return tuple(parts) + ((None,) if b is None else ())

    def dot(x, y):
        return float(torch.dot(x, y))

    def model(state):
        """The quadratic model's data at one state, shared by its rejected steps: the
        scaling ``S`` in the objective's dtype and in ``hvp_dtype`` (CG runs in the precision
        of the Hessian products, inexact Newton; the step is applied and judged in the
        objective's), the scaled gradient, its norm, and the list of CG products ``H d_k``
        (filled by the first CG run, reused by the reruns after a rejection)."""
        S64 = flat(
            [None if D is None else torch.sqrt(D + 1e-3 * D.mean() + 1e-300) for D in state.diag]
        )
        g64 = flat(state.grad) / S64
        return S64, S64.to(state.hvp_dtype), g64.to(state.hvp_dtype), math.sqrt(dot(g64, g64)), []

    n_params = sum(sizes)
    max_cg = min(max_cg, n_params + 5)  # CG is exact after n_params steps in exact arithmetic
    with torch.no_grad():
        state = obj.second_order_state(H, W, b, hvp_dtype)
        S64, S, g, gnorm, products = model(state)
        value, grad_norm = state.value, state.grad_norm
        iterations, radius, tiny_steps = 0, None, 0
        while n_params > 0 and grad_norm > tol and iterations < max_iter:
            if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                break
            if gnorm == 0.0 or dot(g, g) == 0.0:
                # a critical point of the factored problem that is not one of the rank-d
                # problem (e.g. H = W = 0), or a gradient below the products' precision:
                # CG has no direction; ends "not converged"
                break
            if radius is None:
                radius = 0.1 * max(gnorm, 1e-12) ** 0.5

            def hess(k, v):
                # a rejected step reruns CG on the same model with a smaller radius: the
                # iterates are the same up to the new boundary, so their products are reused
                if k < len(products):
                    return products[k]
                Hv = state.hvp_flat(v / S) / S
                if (k + 1) * Hv.numel() <= _CG_MEMO_ELEMENTS:
                    products.append(Hv)
                return Hv

            # Steihaug-Toint CG on the model
            p = torch.zeros_like(g)
            r = g
            dvec = -g
            rr = dot(r, r)
            eta = min(0.5, math.sqrt(gnorm)) * gnorm
            on_boundary = False
            Hp = torch.zeros_like(g)  # H p, updated alongside p (saves a product per Newton step)
            for k in range(max_cg):
                if (
                    max_seconds is not None
                    and time.perf_counter() - t0 > max_seconds
                    and dot(p, p) > 0
                ):
                    break  # out of time: take the partial (still descent) step
                Hd = hess(k, dvec)
                dHd = dot(dvec, Hd)
                if dHd <= 0:  # negative curvature: go to the boundary
                    pd, dd, pp = dot(p, dvec), dot(dvec, dvec), dot(p, p)
                    tau = (-pd + math.sqrt(max(pd * pd + dd * (radius**2 - pp), 0.0))) / dd
                    p, Hp = torch.add(p, dvec, alpha=tau), torch.add(Hp, Hd, alpha=tau)
                    on_boundary = True
                    break
                alpha = rr / dHd
                p_new = torch.add(p, dvec, alpha=alpha)
                if math.sqrt(dot(p_new, p_new)) >= radius:
                    pd, dd, pp = dot(p, dvec), dot(dvec, dvec), dot(p, p)
                    tau = (-pd + math.sqrt(max(pd * pd + dd * (radius**2 - pp), 0.0))) / dd
                    p, Hp = torch.add(p, dvec, alpha=tau), torch.add(Hp, Hd, alpha=tau)
                    on_boundary = True
                    break
                p, Hp = p_new, torch.add(Hp, Hd, alpha=alpha)
                r = torch.add(r, Hd, alpha=alpha)
                rr_new = dot(r, r)
                if math.sqrt(rr_new) <= eta:
                    break
                dvec = torch.add(-r, dvec, alpha=rr_new / rr)
                rr = rr_new
            predicted = -(dot(g, p) + 0.5 * dot(p, Hp))
            step = unflat(p.to(S64.dtype) / S64)
            Hn, Wn = H + step[0], W + step[1]
            bn_ = None if b is None else b + step[2]
            decrease = state.decrease(*step)
            if not math.isfinite(decrease):  # overflow on a too-long step: reject it
                decrease = -math.inf
            rho = decrease / predicted if predicted > 0 else -1.0
            pnorm = math.sqrt(dot(p, p))
            if rho < 0.25:
                radius = 0.25 * pnorm
            elif rho > 0.75 and on_boundary:
                radius = 2.0 * radius
            iterations += 1
            if rho > 0.1 and decrease > 0:
                H, W, b = Hn, Wn, bn_
                state = obj.second_order_state(H, W, b, hvp_dtype)
                S64, S, g, gnorm, products = model(state)
                value, grad_norm = state.value, state.grad_norm
                history.append((clock(), value))
                tiny_steps = tiny_steps + 1 if decrease <= 1e-15 * abs(value) else 0
                if tiny_steps >= 3:
                    break  # progress below rounding of the value: stalled (reported as not converged)
            else:
                x = flat((H, W, b))
                if radius < 1e-14 * max(1.0, math.sqrt(dot(x, x))):
                    break  # stalled at rounding level

    def out(t):
        return None if t is None else t.detach().to(torch.float64).cpu().numpy()

    return out(H), out(W), out(b), grad_norm, iterations, history


# ---------------------------------------------------------------------------- solve
def solve(
    target: Target,
    d: int,
    *,
    bias: bool | None = None,
    device: str = "auto",
    dtype=None,
    tol: float = 1e-8,
    max_iter: int = 20000,
    init="auto",
    seed: int = 0,
    chunk_size: int | None = None,
    check_every: int = 25,
    max_seconds: float | None = None,
    method: str = "newton",
    n_starts: int = 2,
    fisher_logits=None,
    hvp_dtype="auto",
) -> Solution:
    """Numerically minimise ``G(H W^T (+ 1 b^T))`` over rank-``d`` heads (theory.md §4).

    Parameters
    ----------
    target : Target
        Any storage (dense, sparse, factored; chunked over contexts); zeros allowed (the
        loss reads the support only).
    d : int
        Rank, ``0 <= d <= min(N, V)``.
    bias : bool, optional
        Free bias row; default ``target.bias``.
    device : str
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ...
    dtype : torch.dtype, optional
        Compute dtype; default float64 on CPU, float32 on CUDA. The final gap is always
        recomputed in float64 with :meth:`Target.gap`.
    tol : float
        Convergence threshold on the Riemannian gradient norm ``||P_T(dG/dZ)||_F``. In
        float64 the line search stalls once the gap changes by less than its rounding
        (about ``1e-17``), which on small problems is a gradient norm near ``1e-10``;
        tolerances below that end as "not converged" (stalled), never silently.
    max_iter : int
        Maximum iterations (Newton steps, or L-BFGS iterations).
    method : {"newton", "lbfgs"}
        ``"newton"``: trust-region Newton–CG with exact Hessian products
        (:func:`minimize_factors_newton`; converges to gradient norms near ``1e-10``);
        ``"lbfgs"``: diagonally preconditioned L-BFGS (:func:`minimize_factors`).
    n_starts : int
        The problem is non-convex: the ``n_starts`` best-scoring starting points are each
        optimised and the lowest final gap is returned.
    init : {"auto", "svd", "fisher", "zeros"} or Solution
        Starting point. ``"auto"`` takes the lowest gap among the truncated SVD of ``A_pi``
        and the Fisher solution; a :class:`Solution` of rank ``<= d`` is extended by
        steepest rank-one directions (warm start; the gap cannot increase).
    seed : int
        Seed for the (deterministic) tie-breaking perturbations.
    fisher_logits : array (N, V), optional
        A precomputed :func:`bottleneck.fisher_solution` for this ``d`` (and bias), used as
        the Fisher start of ``init="auto"`` instead of recomputing it (``bounds`` passes the
        one behind ``E_F``).
    hvp_dtype : torch.dtype or "auto"
        Precision of the Hessian-vector products inside Newton's conjugate gradients
        (values, gradients, the acceptance test and the stopping test stay in ``dtype``).
        ``"auto"``: float32 when ``N V >= 2^18`` (where the products are bandwidth-bound
        and float32 halves their cost), else ``dtype``.
    chunk_size : int, optional
        Rows per chunk (memory ``O(chunk x V)``).
    check_every : int
        L-BFGS iterations between convergence checks (and preconditioner updates).
    max_seconds : float, optional
        Wall-time budget for the iterations; an exhausted budget ends "not converged".

    Returns
    -------
    Solution
        ``gap`` is the float64 gap of the returned explicit head: a certified upper bound on
        ``G*(d)``. (An explicit rank-``d`` head is feasible, so its gap bounds the
        minimum from above; the sandwich ``lower <= G*(d) <= gap <= U_trunc`` is proved in
        proofs/theorem_l.md and proofs/theorem_u.md.) ``converged`` is False (never silently) when ``max_iter`` ran out or the
        line search stalled above ``tol``.

    Raises
    ------
    ValueError
        Bad ``d``, incompatible ``init``, non-finite values during optimisation.

    Notes
    -----
    docs/theory.md §4; the gradient formulas are in ``bottleneck/_objective.py`` and are
    checked against central finite differences in tests/test_solver.py.
    """
    import torch

    from ._objective import GapObjective, resolve_device

    if not isinstance(target, Target):
        raise ValueError(f"target must be a bottleneck.Target; got {type(target).__name__}")
    d = _v.check_rank(d)
    n, v = target.shape
    if d > min(n, v):
        raise ValueError(
            f"d = {d} exceeds min(N, V) = {min(n, v)}; rank-{min(n, v)} heads already reach every Z"
        )
    if not (tol > 0 and math.isfinite(tol)):
        raise ValueError(f"tol must be finite and > 0; got {tol!r}")
    use_bias = target.bias if bias is None else bool(bias)
    tgt = target if use_bias == target.bias else target.with_bias(use_bias)
    dev = resolve_device(device)
    if dtype is None:
        dtype = torch.float64 if dev.type == "cpu" else torch.float32
    t0 = time.perf_counter()

    # ---- starting point: lowest float64 gap among candidates
    candidates = []
    if isinstance(init, Solution):
        if init.H.shape != (n, init.d) or init.W.shape[0] != v or init.d > d:
            raise ValueError(
                f"init Solution has rank {init.d} / shapes {init.H.shape}, {init.W.shape}; need rank <= {d} on a {n} x {v} target"
            )
        if (init.bias is not None) != use_bias:
            raise ValueError("init Solution and this solve disagree on the bias")
        if init.d < d:
            for scale in (1e-2, 1e-3, 1e-4):
                candidates.append((f"warm (pad {scale:g})", *_pad(init, tgt, d, scale)))
        else:
            candidates.append(("warm", init.H, init.W, init.bias))
        if init.d < d:
            candidates.append(
                (
                    "warm-zero-pad",
                    np.hstack([init.H, np.zeros((n, d - init.d))]),
                    np.hstack([init.W, np.zeros((v, d - init.d))]),
                    init.bias,
                )
            )
    elif init in ("auto", "svd"):
        candidates.append(("svd", *_svd_init(tgt, d)))
        if init == "auto" and d > 0 and fisher_logits is not None:
            Zf = np.asarray(fisher_logits, dtype=np.float64)
            if Zf.shape != (n, v) or not np.isfinite(Zf).all():
                raise ValueError(
                    f"fisher_logits must be finite with shape {(n, v)}; got {Zf.shape}"
                )
            candidates.append(("fisher", *_factor(Zf, d, use_bias)))
        elif init == "auto" and d > 0 and n * v <= _FISHER_START_LIMIT:  # the Fisher start is dense
            from .fisher import fisher_solution

            try:
                Zf = fisher_solution(
                    tgt,
                    d,
                    max_iter=500,
                    max_seconds=None if max_seconds is None else max_seconds / 4,
                )
                candidates.append(("fisher", *_factor(Zf, d, use_bias)))
            except ValueError:
                pass
    elif init == "fisher":
        from .fisher import fisher_solution

        candidates.append(("fisher", *_factor(fisher_solution(tgt, d), d, use_bias)))
    elif init == "zeros":
        rng = np.random.default_rng(seed)
        candidates.append(
            (
                "zeros",
                1e-3 * rng.standard_normal((n, d)),
                1e-3 * rng.standard_normal((v, d)),
                np.zeros(v) if use_bias else None,
            )
        )
    else:
        raise ValueError(
            f"init must be 'auto', 'svd', 'fisher', 'zeros' or a Solution; got {init!r}"
        )

    def gap_of(H, W, b):
        return tgt.gap_factors(H, W, b)

    if method not in ("newton", "lbfgs"):
        raise ValueError(f"method must be 'newton' or 'lbfgs'; got {method!r}")
    if not (isinstance(n_starts, int) and n_starts >= 1):
        raise ValueError(f"n_starts must be an integer >= 1; got {n_starts!r}")
    scored = [(gap_of(H, W, b), name, H, W, b) for name, H, W, b in candidates]
    scored.sort(key=lambda c: c[0])
    obj = GapObjective(tgt, dev, dtype, chunk_size)
    if isinstance(hvp_dtype, str):
        if hvp_dtype != "auto":
            raise ValueError(f"hvp_dtype must be 'auto' or a torch dtype; got {hvp_dtype!r}")
        hvp_dtype = torch.float32 if n * v >= _FLOAT32_HVP_MIN else dtype
    best = None
    iterations, history = 0, []
    for start_gap, init_name, H0, W0, b0 in scored[:n_starts]:
        history.append((time.perf_counter() - t0, start_gap))
        budget = None if max_seconds is None else max(max_seconds - (time.perf_counter() - t0), 0.0)
        try:
            if method == "newton":
                H, W, b, grad_norm, its, hist = minimize_factors_newton(
                    obj,
                    H0,
                    W0,
                    b0,
                    tol=tol,
                    max_iter=max_iter,
                    clock=lambda: time.perf_counter() - t0,
                    max_seconds=budget,
                    hvp_dtype=hvp_dtype,
                )
            else:
                H, W, b, grad_norm, its, hist = minimize_factors(
                    obj,
                    H0,
                    W0,
                    b0,
                    tol=tol,
                    max_iter=max_iter,
                    check_every=check_every,
                    clock=lambda: time.perf_counter() - t0,
                    max_seconds=budget,
                )
        except FloatingPointError as exc:
            raise ValueError(
                f"non-finite gap during optimisation at d = {d} ({exc}); try dtype=torch.float64"
            ) from None
        iterations += its
        history += hist
        gap = gap_of(H, W, b)
        if gap > start_gap:  # never return worse than the (explicit, feasible) start
            gap, H, W, b = start_gap, H0, W0, b0
            grad_norm = obj.stationarity(
                *(
                    None if x is None else torch.as_tensor(x, device=dev, dtype=dtype)
                    for x in (H0, W0, b0)
                )
            )[1]
        if best is None or gap < best[0]:
            best = (gap, H, W, b, grad_norm, init_name)
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    gap, Hn, Wn, bn_, grad_norm, init_name = best
    entropy = tgt.entropy()
    return Solution(
        d=d,
        gap=gap,
        loss=entropy + gap,
        H=Hn,
        W=Wn,
        bias=bn_,
        converged=bool(grad_norm <= tol),
        grad_norm=grad_norm,
        iterations=iterations,
        seconds=time.perf_counter() - t0,
        device=str(dev),
        init=init_name,
        tol=tol,
        history=history,
    )


# ---------------------------------------------------------------------------- sweep
def sweep(
    target: Target, ds, *, path: str | None = None, progress: bool = True, **solve_kwargs
) -> list[Solution]:
    """Solve a list of ranks with warm starts, so the curve ``d -> gap`` is monotone.

    Ranks are solved in increasing order; rank ``d`` starts from the best of the rank-``d``
    defaults and the previous solution extended to rank ``d`` (whose gap is the previous
    gap), so ``gap(d) <= gap(d')`` for ``d > d'`` by construction.

    Parameters
    ----------
    target : Target
    ds : iterable of int
    path : str, optional
        JSON file of per-rank records (no factors), written atomically after each rank.
        If it exists and matches the target, solved ranks are skipped (resume) and their
        recorded gaps are kept; the warm start then restarts from the rank-``d`` defaults.
    progress : bool
        Show a tqdm progress bar.
    **solve_kwargs
        Passed to :func:`solve`.

    Returns
    -------
    list of Solution
        In increasing ``d`` (ranks read back from ``path`` have empty factors).
    """
    from tqdm.auto import tqdm

    ranks = sorted({_v.check_rank(d) for d in ds})
    fingerprint = target.fingerprint()
    done: dict[int, dict] = {}
    if path is not None and os.path.exists(path):
        with open(path) as fh:
            saved = json.load(fh)
        if saved.get("target") != fingerprint:
            raise ValueError(
                f"{path} holds a sweep of another target; remove it or choose another path"
            )
        done = {int(r["d"]): r for r in saved["records"]}
    out: list[Solution] = []
    prev: Solution | None = None
    records = list(done.values())
    for d in tqdm(ranks, desc="sweep", disable=not progress):
        if d in done:
            r = done[d]
            out.append(
                Solution(
                    d=d,
                    gap=r["gap"],
                    loss=r["loss"],
                    H=np.zeros((0, 0)),
                    W=np.zeros((0, 0)),
                    bias=None,
                    converged=r["converged"],
                    grad_norm=r["grad_norm"],
                    iterations=r["iterations"],
                    seconds=r["seconds"],
                    device=r["device"],
                    init=r.get("init", ""),
                    tol=r.get("tol", 0.0),
                )
            )
            prev = None
            continue
        sol = solve(target, d, **solve_kwargs)
        if prev is not None and prev.H.size:
            warm = solve(target, d, **{**solve_kwargs, "init": prev})
            if warm.gap < sol.gap:
                sol = warm
        if out and sol.gap > out[-1].gap:  # monotone by construction: the padded head is feasible
            sol = _padded_copy(out[-1], prev, d) if prev is not None else sol
        out.append(sol)
        prev = sol
        records = [r for r in records if int(r["d"]) != d] + [sol.to_record()]
        if path is not None:
            _atomic_write_json(
                path, {"target": fingerprint, "records": sorted(records, key=lambda r: r["d"])}
            )
    return out


def _padded_copy(last: Solution, prev: Solution, d: int) -> Solution:
    n, v = prev.H.shape[0], prev.W.shape[0]
    H = np.hstack([prev.H, np.zeros((n, d - prev.d))])
    W = np.hstack([prev.W, np.zeros((v, d - prev.d))])
    return Solution(
        d=d,
        gap=last.gap,
        loss=last.loss,
        H=H,
        W=W,
        bias=prev.bias,
        converged=last.converged,
        grad_norm=last.grad_norm,
        iterations=0,
        seconds=0.0,
        device=last.device,
        init="padded previous rank",
        tol=last.tol,
    )
