"""Diagonally preconditioned L-BFGS on the factors (``solve(..., method="lbfgs")``).

Every ``check_every`` iterations the factors are rescaled by the square root of the
diagonal of the Gauss–Newton matrix (:meth:`FactorObjective.diag_curvature`), which evens
out the very different curvatures of rows with peaked and flat predictions, and the
Riemannian gradient norm is checked. Trust-region Newton
(:mod:`bottleneck.optim.newton`) is the default method; this one is kept as the
alternative it is benchmarked against.
"""

from __future__ import annotations

from .result import FactorRun, RunClock, stop_status

__all__ = ["minimize_factors"]


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
    callback=None,
) -> FactorRun:
    """Minimise ``obj`` (a :class:`~bottleneck.optim.objective.FactorObjective`) over factors.

    L-BFGS with strong Wolfe line search (torch) in diagonally preconditioned variables,
    in blocks of ``check_every`` iterations. Stops when the Riemannian gradient norm is
    ``<= tol`` (``"converged"``), when ``max_iter`` is reached, after ``max_seconds``
    (checked between blocks), or when two consecutive blocks no longer move the factors
    (``"stalled"``). Once a block improves the value by less than ``1e-12`` relative, values
    are measured relative to the block's start point (:meth:`GapObjective.set_reference`)
    so the line search can still resolve the decrease.

    Returns a :class:`~bottleneck.optim.result.FactorRun` whose ``history`` holds
    ``(clock(), value)`` after each block (``clock`` defaults to the time since the call;
    ``callback(clock(), value, grad_norm)`` is called there too).
    Raises FloatingPointError on a non-finite objective or factors.
    """
    import torch

    timer = RunClock(clock, max_seconds)
    H, W, b = obj.tensors(H0, W0, b0)
    history: list[tuple[float, float]] = []
    iterations, stalls, reason = 0, 0, None
    with torch.no_grad():
        value, grad_norm = obj.stationarity(H, W, b)
    has_params = H.numel() + W.numel() + (0 if b is None else b.numel()) > 0
    relative_capable = hasattr(obj, "set_reference")
    relative = False
    while has_params and grad_norm > tol and iterations < max_iter:
        if timer.out_of_time():
            reason = "max_seconds"
            break
        Hn, Wn, bn_, its = _lbfgs_block(
            obj, H, W, b, min(check_every, max_iter - iterations), relative
        )
        iterations += its
        with torch.no_grad():
            new_value, grad_norm = obj.stationarity(Hn, Wn, bn_)
        moved = _largest_change((H, W, b), (Hn, Wn, bn_))
        if (
            relative_capable
            and not relative
            and abs(value - new_value) <= 1e-12 * max(abs(value), 1e-300)
        ):
            relative = True
        H, W, b, value = Hn, Wn, bn_, new_value
        history.append((timer.clock(), value))
        if callback is not None:
            callback(history[-1][0], value, grad_norm)
        stalls = stalls + 1 if moved == 0.0 else 0
        if stalls >= 2:
            reason = "stalled"
            break
    if reason is None and has_params and grad_norm > tol:
        reason = "max_iter"
    return FactorRun(
        *(None if t is None else t.detach().to(torch.float64).cpu().numpy() for t in (H, W, b)),
        grad_norm=grad_norm,
        iterations=iterations,
        seconds=timer.elapsed(),
        status=stop_status(grad_norm, tol, reason),
        history=tuple(history),
    )


def _lbfgs_block(obj, H, W, b, max_iter: int, relative: bool):
    """One block of at most ``max_iter`` L-BFGS iterations in the variables scaled by the
    square root of the Gauss–Newton diagonal at ``(H, W, b)``; returns the new factors and
    the iterations taken. With ``relative`` the values are measured from ``(H, W, b)``."""
    import torch

    with torch.no_grad():
        scales = obj.diag_curvature(H, W, b)
        scales = [None if D is None else torch.sqrt(D + 1e-3 * D.mean() + 1e-300) for D in scales]
    sH, sW, sb = scales
    X = (H * sH).requires_grad_(True)
    Y = (W * sW).requires_grad_(True)
    c = None if b is None else (b * sb).requires_grad_(True)
    params = [p for p in (X, Y, c) if p is not None and p.numel() > 0]
    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
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
        return val.to(obj.dtype)

    if relative:
        obj.set_reference(H, W, b)
    opt.step(closure)
    iterations = int(opt.state[opt._params[0]].get("n_iter", 0))
    with torch.no_grad():
        Hn, Wn = X.detach() / sH, Y.detach() / sW
        bn_ = None if c is None else c.detach() / sb
        if not all(
            bool(torch.isfinite(t).all()) for t in (Hn, Wn) + (() if bn_ is None else (bn_,))
        ):
            raise FloatingPointError("non-finite factors")
        if relative:
            obj.set_reference(None, None, None)
    return Hn, Wn, bn_, iterations


def _largest_change(old, new) -> float:
    """``max |new - old|`` over the entries of the factors (0 for empty factors)."""
    out = 0.0
    for a, b in zip(old, new):
        if a is not None and a.numel():
            out = max(out, float((b - a).abs().max()))
    return out
