"""The second-order (Fisher) estimate ``E_F(d)`` of ``G*(d)`` (docs/theory.md §3).

    E_F(d) = 1/2 min_{rank M <= d} sum_i pi_i Var_{p_i}(a_i - m_i)

(``+ 1 b^T`` in ``M`` with a bias), a weighted low-rank approximation: around ``Z = log P``
the gap is ``G(log P + D) = 1/2 sum_i pi_i Var_{p_i}(d_i) + O(||D||^3)`` (the Hessian of
``KL(p || softmax(a + .))`` at 0 is ``diag(p) - p p^T``). Not a bound; it predicts ``G*(d)``
and ``G*(d)/E_F(d) -> 1`` as the tail vanishes (proofs/estimates.md).
"""

from __future__ import annotations

import numpy as np

from .. import _validation as _v
from .._device import resolve_device
from ..explicit import truncated_svd_head
from ..target import Target
from .newton import minimize_factors_newton
from .objective import FisherObjective
from .result import FisherSolution
from .starts import factor_logits

__all__ = ["fisher_estimate", "fisher_solution", "fisher_value"]


def fisher_solution(
    target: Target,
    d: int,
    *,
    tol: float = 1e-10,
    max_iter: int = 500,
    device: str = "auto",
    max_seconds: float | None = None,
) -> FisherSolution:
    """The minimiser ``M`` of the Fisher model, as factors (rank ``<= d``, plus a bias row if
    ``target.bias``): ``M = argmin_{rank <= d} sum_i pi_i Var_{p_i}(a_i - m_i)``.

    Trust-region Newton–CG on the factors (:mod:`bottleneck.optim.newton`) from the
    truncated SVD of the (floor-clipped where ``p = 0``) weighted log-probabilities. The
    result's :meth:`~bottleneck.optim.result.FisherSolution.logits` is a feasible head for
    :func:`bottleneck.solve` and the argument of :func:`fisher_value`; see
    :func:`fisher_estimate` and proofs/estimates.md.
    """
    import torch

    if not isinstance(target, Target):
        raise _v.ArgumentTypeError(
            f"target must be a bottleneck.Target; got {type(target).__name__}"
        )
    d = _v.check_rank(d)
    tol = _v.check_real(tol, "tol", minimum=0.0, strict=True)
    _v.check_int(max_iter, "max_iter", minimum=0)
    max_seconds = _v.check_budget(max_seconds, "max_seconds")
    if d > min(target.shape):
        raise ValueError(f"d = {d} exceeds min(N, V) = {min(target.shape)}")
    dev = resolve_device(device)
    dtype = torch.float64 if dev.type == "cpu" else torch.float32
    obj = FisherObjective(target, dev, dtype)
    floor = None
    if not target.has_full_support:
        floor = float(np.asarray(target.probs)[np.asarray(target.probs) > 0].min())
    Z0, _ = truncated_svd_head(target, d, floor=floor)
    H0, W0, b0 = factor_logits(Z0, d, target.bias)
    run = minimize_factors_newton(
        obj, H0, W0, b0, tol=tol, max_iter=max_iter, max_seconds=max_seconds
    )
    return FisherSolution(
        d=d,
        H=run.H,
        W=run.W,
        bias=run.b,
        status=run.status,
        grad_norm=run.grad_norm,
        iterations=run.iterations,
        seconds=run.seconds,
        tol=tol,
        history=run.history,
    )


def fisher_value(target: Target, Z: np.ndarray) -> float:
    """The Fisher model ``1/2 sum_i pi_i Var_{p_i}(a_i - z_i)`` at logits ``Z`` (N, V),
    in float64; ``E_F(d)`` at the logits of :func:`fisher_solution`."""
    P = np.asarray(target.probs)
    R = np.where(P > 0, np.asarray(target.log_probs), 0.0) - Z
    mean = (P * R).sum(axis=1, keepdims=True)
    var = (P * (R - mean) ** 2).sum(axis=1)
    return 0.5 * float(np.asarray(target.weights) @ var)


def fisher_estimate(
    target: Target,
    d: int,
    *,
    tol: float = 1e-10,
    max_iter: int = 500,
    device: str = "auto",
    max_seconds: float | None = None,
) -> float:
    """Second-order estimate ``E_F(d) = 1/2 min_{rank M <= d} sum_i pi_i Var_{p_i}(a_i - m_i)``.

    Parameters
    ----------
    target : Target
        Zeros allowed (entries outside the support have zero Fisher weight).
    d : int
    tol, max_iter : convergence of the weighted low-rank approximation (trust-region
        Newton–CG on factors, Riemannian gradient norm).
    device : str
    max_seconds : float, optional
        Time budget; a stopped optimisation gives a value ``>= E_F(d)`` (the minimum is
        approached from above).

    Returns
    -------
    float
        ``E_F(d)`` in nats/token (0 when ``d >= rank``). An estimate, not a bound: docs/theory.md
        §3; the expansion and ``G*(d)/E_F(d) -> 1`` are proved in proofs/estimates.md.

    Examples
    --------
    >>> import bottleneck as bn
    >>> t, _ = bn.targets.synthetic(30, 20, "power", decay=1.0, scale=0.5, seed=0)
    >>> e = bn.fisher_estimate(t, 3)
    >>> 0 < e < bn.bounds(t, 3).upper
    True
    """
    if not isinstance(target, Target):
        raise ValueError(f"target must be a bottleneck.Target; got {type(target).__name__}")
    fs = fisher_solution(
        target, d, tol=tol, max_iter=max_iter, device=device, max_seconds=max_seconds
    )
    return fisher_value(target, fs.logits())
