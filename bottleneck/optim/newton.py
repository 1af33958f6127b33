"""Trust-region Newton–CG (Steihaug–Toint) on the factors: the default method of ``solve``.

In diagonally preconditioned variables (square root of the Gauss–Newton diagonal, refreshed
every iteration), each iteration approximately minimises the quadratic model
``m(p) = g^T p + p^T H p / 2`` over the ball ``||p|| <= Delta`` by conjugate gradients
(:func:`steihaug_cg`) with exact Hessian-vector products, and accepts the step when the
actual decrease is at least a tenth of the predicted one. [NocedalWright2006] Alg. 7.2
(CG-Steihaug) and Alg. 4.1 (radius update), as in scipy's ``trust-ncg``.
"""

from __future__ import annotations

import math

from .result import FactorRun, RunClock, stop_status

__all__ = ["minimize_factors_newton", "steihaug_cg"]

#: Entries of the CG products ``H d_k`` kept for the rerun after a rejected step (128 MiB
#: in float64, 64 in float32).
_CG_MEMO_ELEMENTS = 2**24


def _dot(x, y) -> float:
    import torch

    return float(torch.dot(x, y))


def _norm(x) -> float:
    return math.sqrt(_dot(x, x))


def steihaug_cg(hess, g, radius: float, *, tol: float, max_iter: int, stop=None):
    """Approximate minimiser ``p`` of ``g^T p + p^T H p / 2`` over ``||p|| <= radius``.

    Conjugate gradients from ``p = 0`` (Steihaug–Toint): stops at the boundary along a
    direction of non-positive curvature or when an iterate would leave the ball, when the
    residual ``||H p + g||`` falls to ``tol``, after ``max_iter`` products, or, once ``p``
    is non-zero, when ``stop()`` says so (a partial step is still a descent step).

    Parameters
    ----------
    hess : callable ``(k, d) -> H d``
        The product with the ``k``-th CG direction (``k`` lets the caller replay stored
        products: CG on the same model with a smaller radius retraces the same directions).
    g : 1-D tensor
        The model's gradient.

    Returns
    -------
    p, Hp : tensors
        The step and ``H p`` (updated alongside ``p``, so the predicted decrease needs no
        further product).
    on_boundary : bool
        Whether ``||p|| = radius``.
    """
    import torch

    p = torch.zeros_like(g)
    Hp = torch.zeros_like(g)
    r = g
    direction = -g
    rr = _dot(r, r)
    for k in range(max_iter):
        if stop is not None and stop() and _dot(p, p) > 0:
            break
        Hd = hess(k, direction)
        dHd = _dot(direction, Hd)
        if dHd <= 0:  # negative curvature: go to the boundary
            return _to_boundary(p, Hp, direction, Hd, radius)
        alpha = rr / dHd
        p_new = torch.add(p, direction, alpha=alpha)
        if math.sqrt(_dot(p_new, p_new)) >= radius:
            return _to_boundary(p, Hp, direction, Hd, radius)
        p, Hp = p_new, torch.add(Hp, Hd, alpha=alpha)
        r = torch.add(r, Hd, alpha=alpha)
        rr_new = _dot(r, r)
        if math.sqrt(rr_new) <= tol:
            break
        direction = torch.add(-r, direction, alpha=rr_new / rr)
        rr = rr_new
    return p, Hp, False


def _to_boundary(p, Hp, direction, Hd, radius: float):
    """``p + tau d`` with ``tau >= 0`` the root of ``||p + tau d|| = radius``, and its
    product ``H p + tau H d``."""
    import torch

    pd, dd, pp = _dot(p, direction), _dot(direction, direction), _dot(p, p)
    tau = (-pd + math.sqrt(max(pd * pd + dd * (radius**2 - pp), 0.0))) / dd
    return torch.add(p, direction, alpha=tau), torch.add(Hp, Hd, alpha=tau), True


class _FlatLayout:
    """The factors ``(H, W, b)`` as one flat vector: CG then makes one torch call per dot
    product or update, which is what a CG iteration's overhead is made of on small targets."""

    def __init__(self, H, W, b):
        self.sizes = [H.numel(), W.numel()] + ([] if b is None else [b.numel()])
        self.shapes = (H.shape, W.shape, (W.shape[0],))
        self.has_bias = b is not None
        self.size = sum(self.sizes)

    @staticmethod
    def flat(xs):
        import torch

        return torch.cat([x.reshape(-1) for x in xs if x is not None])

    def unflat(self, v):
        import torch

        parts = [x.view(shape) for x, shape in zip(torch.split(v, self.sizes), self.shapes)]
        return tuple(parts) + (() if self.has_bias else (None,))


class _Model:
    """The quadratic model at one state, shared by the steps rejected there: the scaling
    ``S`` (in the objective's dtype and in ``hvp_dtype``: CG runs in the precision of the
    Hessian products, inexact Newton, while the step is applied and judged in the
    objective's), the scaled gradient ``g`` and its norm, and the CG products ``H d_k`` of
    the first CG run, replayed by the reruns after a rejection."""

    def __init__(self, state, layout: _FlatLayout):
        import torch

        diag = [None if D is None else torch.sqrt(D + 1e-3 * D.mean() + 1e-300) for D in state.diag]
        self.state, self.layout = state, layout
        self.S64 = layout.flat(diag)
        g64 = layout.flat(state.grad) / self.S64
        self.S = self.S64.to(state.hvp_dtype)
        self.g = g64.to(state.hvp_dtype)
        self.gnorm = math.sqrt(_dot(g64, g64))
        self.products = []

    def hess(self, k: int, v):
        """``H v`` in the scaled variables; the ``k``-th product of a rerun is replayed."""
        if k < len(self.products):
            return self.products[k]
        Hv = self.state.hvp_flat(v / self.S) / self.S
        if (k + 1) * Hv.numel() <= _CG_MEMO_ELEMENTS:
            self.products.append(Hv)
        return Hv

    def step(self, p):
        """The scaled CG step ``p`` as factor steps ``(dH, dW, db)`` in the objective's dtype."""
        return self.layout.unflat(p.to(self.S64.dtype) / self.S64)


def _trust_region_step(model: _Model, radius: float, max_cg: int, stop):
    """One iteration at the model's state: the Steihaug step, its actual decrease (measured
    from the state, accurate to its own size), whether it is accepted (``rho > 0.1``) and
    the next radius (a quarter of the step below ``rho = 1/4``, doubled above ``3/4`` on
    the boundary)."""
    gnorm = model.gnorm
    p, Hp, on_boundary = steihaug_cg(
        model.hess,
        model.g,
        radius,
        tol=min(0.5, math.sqrt(gnorm)) * gnorm,
        max_iter=max_cg,
        stop=stop,
    )
    predicted = -(_dot(model.g, p) + 0.5 * _dot(p, Hp))
    step = model.step(p)
    decrease = model.state.decrease(*step)
    if not math.isfinite(decrease):  # overflow on a too-long step: reject it
        decrease = -math.inf
    rho = decrease / predicted if predicted > 0 else -1.0
    pnorm = math.sqrt(_dot(p, p))
    if rho < 0.25:
        radius = 0.25 * pnorm
    elif rho > 0.75 and on_boundary:
        radius = 2.0 * radius
    return step, decrease, rho > 0.1 and decrease > 0, radius


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
    callback=None,
) -> FactorRun:
    """Trust-region Newton–CG on the factors of ``obj`` with exact Hessian products.

    Stops with status ``"converged"`` (Riemannian gradient norm ``<= tol``),
    ``"max_iter"`` (Newton steps), ``"max_seconds"``, ``"no_direction"`` (the factor
    gradient vanishes at a point that is not stationary for the rank-``d`` problem, e.g.
    ``H = W = 0``), ``"tiny_decrease"`` or ``"radius_underflow"`` (progress below rounding).

    One pass over the rows per accepted step computes value, gradient, preconditioner and
    stopping test and caches the softmax for the Hessian products
    (:meth:`FactorObjective.second_order_state`); a rejected step reuses them and the
    products of the CG run it rejected (up to ``_CG_MEMO_ELEMENTS`` entries). ``hvp_dtype``
    (e.g. ``torch.float32`` with a float64 objective) is the precision of those products
    and of the CG vectors; gradient, values and the acceptance test stay in the objective's
    dtype, so only the inner solve is inexact (inexact Newton).

    Returns a :class:`~bottleneck.optim.result.FactorRun` (``history``: ``(clock(), value)``
    after each accepted step; ``callback(clock(), value, grad_norm)`` is called there too).
    """
    import torch

    timer = RunClock(clock, max_seconds)
    H, W, b = obj.tensors(H0, W0, b0)
    layout = _FlatLayout(H, W, b)
    max_cg = min(max_cg, layout.size + 5)  # CG is exact after n_params steps in exact arithmetic
    history: list[tuple[float, float]] = []
    iterations, radius, tiny_steps, reason = 0, None, 0, None
    with torch.no_grad():
        state = obj.second_order_state(H, W, b, hvp_dtype)
        model = _Model(state, layout)
        while layout.size > 0 and state.grad_norm > tol and iterations < max_iter:
            if timer.out_of_time():
                reason = "max_seconds"
                break
            if model.gnorm == 0.0 or _dot(model.g, model.g) == 0.0:
                reason = "no_direction"  # also a gradient below the products' precision
                break
            if radius is None:
                radius = 0.1 * max(model.gnorm, 1e-12) ** 0.5
            step, decrease, accepted, radius = _trust_region_step(
                model, radius, max_cg, timer.out_of_time
            )
            iterations += 1
            if accepted:
                H, W, b = H + step[0], W + step[1], None if b is None else b + step[2]
                state = obj.second_order_state(H, W, b, hvp_dtype)
                model = _Model(state, layout)
                history.append((timer.clock(), state.value))
                if callback is not None:
                    callback(history[-1][0], state.value, state.grad_norm)
                tiny_steps = tiny_steps + 1 if decrease <= 1e-15 * abs(state.value) else 0
                if tiny_steps >= 3:
                    reason = "tiny_decrease"
                    break
            elif radius < 1e-14 * max(1.0, _norm(layout.flat((H, W, b)))):
                reason = "radius_underflow"
                break
    if reason is None and layout.size > 0 and state.grad_norm > tol:
        reason = "max_iter"
    return FactorRun(
        *(None if t is None else t.detach().to(torch.float64).cpu().numpy() for t in (H, W, b)),
        grad_norm=state.grad_norm,
        iterations=iterations,
        seconds=timer.elapsed(),
        status=stop_status(state.grad_norm, tol, reason),
        history=tuple(history),
    )
