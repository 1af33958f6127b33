"""The sandwich with the numerical optimum: certified bounds, the solver and ``E_F`` for one
``d``, what ``bottleneck.bounds(target, d, solve=True)`` returns.

The core :func:`bottleneck.bounds.bounds` takes an already computed solution and Fisher
estimate; this module computes them (one Fisher solution serves both ``E_F`` and the
solver's Fisher start) and passes them in.
"""

from __future__ import annotations

from .. import _validation as _v
from ..bounds import bounds
from ..sandwich import Sandwich
from ..target import Target
from .fisher import fisher_solution, fisher_value
from .solver import solve

__all__ = ["bounds_with_solver"]


def bounds_with_solver(
    target: Target, d: int, *, solve_kwargs: dict | None = None, **bounds_kwargs
) -> Sandwich:
    """:func:`bottleneck.bounds.bounds` with the solver's gap (``solver``, a certified upper
    bound) and the Fisher estimate ``E_F``, and the ratios ``E_1/solver``, ``E_F/solver``.

    ``solve_kwargs`` go to :func:`bottleneck.solve` (e.g. ``max_seconds``, which also caps
    the Fisher solution); ``bounds_kwargs`` (``method``, ``floors``) to ``bounds``. Ranks
    above ``min(N, V)`` are solved at ``min(N, V)``.
    """
    if not isinstance(target, Target):
        raise ValueError(f"target must be a bottleneck.Target; got {type(target).__name__}")
    d = _v.check_rank(d)
    if solve_kwargs is not None and not isinstance(solve_kwargs, dict):
        raise _v.ArgumentTypeError(
            f"solve_kwargs must be a dict of bottleneck.solve options; got {solve_kwargs!r}"
        )
    d_eff = min(d, min(target.shape))
    kwargs = dict(solve_kwargs or {})
    fisher = fisher_solution(target, d_eff, max_seconds=kwargs.get("max_seconds"))
    if kwargs.get("bias") in (None, target.bias):
        kwargs.setdefault("fisher_logits", fisher)
    solution = solve(target, d_eff, **kwargs)
    ef = fisher_value(target, fisher.logits())
    return bounds(target, d, solution=solution, fisher_estimate=ef, **bounds_kwargs)
