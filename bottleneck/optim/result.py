"""Results of the optimisers: why a run stopped, and what it returns.

Every run ends with one ``status`` (see :data:`STATUSES`); ``success`` means
``status == "converged"``: the Riemannian gradient norm reached ``tol``, a first-order
stationary point of the rank-``d`` problem. Every other status still returns an explicit
head, so a :class:`Solution`'s gap is a certified upper bound on ``G*(d)`` whatever the
status. The fields follow the package's result protocol (:mod:`bottleneck._result`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._result import Record

__all__ = ["STATUSES", "Solution", "FisherSolution", "FactorRun", "RunClock"]

#: Why a run stopped.
STATUSES = {
    "converged": "the Riemannian gradient norm reached tol",
    "max_iter": "max_iter iterations ran out",
    "max_seconds": "the max_seconds budget ran out",
    "stalled": "two L-BFGS blocks in a row left the factors unchanged",
    "tiny_decrease": "three accepted Newton steps in a row decreased the value by less than "
    "its rounding",
    "radius_underflow": "the trust radius fell below the rounding of the factors",
    "no_direction": "the gradient in the factors vanished (or fell below the precision of "
    "the Hessian products) at a point that is not stationary for the rank-d problem",
    "no_parameters": "there is nothing to optimise (d = 0 without a bias)",
    "start_kept": "the run ended above its starting point, which is returned instead",
    "unknown": "the stop reason was not recorded (read back from an older file)",
}


def stop_status(grad_norm: float, tol: float, reason: str | None) -> str:
    """``"converged"`` when ``grad_norm <= tol``, else the ``reason`` the loop ended for."""
    if grad_norm <= tol:
        return "converged"
    return reason or "no_parameters"


class RunClock:
    """Wall time of one run: ``clock()`` for its history (default: seconds since it began)
    and :meth:`out_of_time` against ``max_seconds`` (None: no budget)."""

    def __init__(self, clock=None, max_seconds: float | None = None):
        self.t0 = time.perf_counter()
        self.clock = clock or self.elapsed
        self.max_seconds = max_seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def out_of_time(self) -> bool:
        return self.max_seconds is not None and self.elapsed() >= self.max_seconds


@dataclass(frozen=True)
class FactorRun(Record):
    """Result of :func:`~bottleneck.optim.newton.minimize_factors_newton` or
    :func:`~bottleneck.optim.lbfgs.minimize_factors`: float64 factors ``(H, W, b)`` of the
    last accepted point, its Riemannian gradient norm, the iterations, and ``history`` of
    ``(clock(), value)`` after each accepted step (Newton) or block (L-BFGS)."""

    H: np.ndarray
    W: np.ndarray
    b: np.ndarray | None
    grad_norm: float
    iterations: int
    seconds: float
    status: str
    history: tuple = ()

    record_properties = ("success", "message")
    record_skip = ("b",)

    @property
    def success(self) -> bool:
        return self.status == "converged"

    @property
    def message(self) -> str:
        return STATUSES[self.status]


@dataclass(frozen=True)
class Solution(Record):
    """Result of :func:`bottleneck.solve` for one rank ``d``.

    Attributes
    ----------
    d : int
    gap : float
        ``G(Z)`` at the returned head, recomputed in float64 (nats/token); a certified upper
        bound on ``G*(d)`` whatever the status.
    loss : float
        ``H(P) + gap``.
    H : ndarray, shape (N, d)
    W : ndarray, shape (V, d)
    bias : ndarray, shape (V,) or None
    status : str
        Why the run stopped (:data:`STATUSES`); ``success`` iff ``"converged"``, i.e.
        ``grad_norm <= tol``.
    message : str
        The status in a sentence.
    grad_norm : float
        Riemannian gradient norm ``||P_T(dG/dZ)||_F`` at the final point.
    iterations : int
        Newton steps (accepted or not), or L-BFGS iterations, over every start run.
    seconds : float
    device : str
    init : str
        Which starting point won.
    tol : float
    history : tuple of (float, float)
        ``(seconds since start, gap)`` after each block of iterations (convergence plots).
    """

    d: int
    gap: float
    loss: float
    H: np.ndarray
    W: np.ndarray
    bias: np.ndarray | None
    status: str
    grad_norm: float
    iterations: int
    seconds: float
    device: str
    init: str = ""
    tol: float = 0.0
    history: tuple = ()
    message: str = ""

    record_properties = ("success",)
    record_skip = ("bias",)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}; got {self.status!r}")
        if not self.message:
            object.__setattr__(self, "message", STATUSES[self.status])

    @property
    def success(self) -> bool:
        return self.status == "converged"

    @property
    def converged(self) -> bool:
        """Same as :attr:`success` (the name older callers use)."""
        return self.success

    def logits(self) -> np.ndarray:
        """``Z = H W^T (+ 1 b^T)``, shape (N, V)."""
        Z = self.H @ self.W.T
        return Z + self.bias if self.bias is not None else Z

    @property
    def status_line(self) -> str:
        """``"converged"`` or ``"NOT converged (<status>)"`` (tables and ``str``)."""
        return "converged" if self.success else f"NOT converged ({self.status})"

    def __str__(self) -> str:
        return (
            f"Solution(d={self.d}, gap={self.gap:.10g} nats/token, {self.status_line}, "
            f"grad_norm={self.grad_norm:.2e}, iterations={self.iterations}, "
            f"{self.seconds:.2f} s on {self.device}, init={self.init!r})"
        )


@dataclass(frozen=True)
class FisherSolution(Record):
    """Result of :func:`bottleneck.fisher_solution`: the factors of the minimiser ``M`` of
    the Fisher model (rank ``<= d``, plus a bias row with ``bias``), kept as factors;
    :meth:`logits` forms the dense (N, V) matrix when it is wanted.

    ``status``, ``grad_norm``, ``iterations``, ``seconds`` and ``history`` (``(seconds,
    value)`` of the Fisher objective) describe the Newton run, as for :class:`Solution`.
    """

    d: int
    H: np.ndarray
    W: np.ndarray
    bias: np.ndarray | None
    status: str
    grad_norm: float
    iterations: int
    seconds: float
    tol: float
    history: tuple = ()

    record_properties = ("success", "message")
    record_skip = ("bias",)

    @property
    def success(self) -> bool:
        return self.status == "converged"

    @property
    def message(self) -> str:
        return STATUSES[self.status]

    def logits(self) -> np.ndarray:
        """``M = H W^T (+ 1 b^T)``, shape (N, V)."""
        Z = self.H @ self.W.T
        if self.bias is not None:
            Z = Z + self.bias
        return Z
