"""Optimisation: the numerical optimum ``G*(d)`` and the Fisher estimate ``E_F``.

==================  ==============================================================
``objective``       the gap and Fisher objectives on factors, chunked over contexts
``newton``          trust-region Newton–CG (Steihaug CG subproblem), the default
``lbfgs``           diagonally preconditioned L-BFGS
``starts``          starting points: truncated SVD, Fisher, warm, zeros
``solver``          :func:`solve` and :func:`sweep`
``fisher``          :func:`fisher_solution`, :func:`fisher_estimate`
``sandwich``        :func:`bounds_with_solver` (``bottleneck.bounds(..., solve=True)``)
``result``          :class:`Solution`, :class:`FisherSolution`, stop reasons
==================  ==============================================================

Imports torch; ``import bottleneck`` reaches this package only when one of its names is
used.
"""

from .fisher import fisher_estimate, fisher_solution, fisher_value
from .result import STATUSES, FisherSolution, Solution
from .sandwich import bounds_with_solver
from .solver import solve, sweep

__all__ = [
    "solve",
    "sweep",
    "Solution",
    "FisherSolution",
    "STATUSES",
    "fisher_solution",
    "fisher_estimate",
    "fisher_value",
    "bounds_with_solver",
]
