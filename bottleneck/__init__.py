"""bottleneck: certified bounds on the loss of rank-d softmax heads.

Quick start::

    import bottleneck as bn
    target, _ = bn.targets.synthetic(200, 300, spectrum="power", decay=0.8, scale=5.0)
    print(bn.bounds(target, d=16))

This module is the facade over the layers of the package (docs/design.md): the certified
core (:class:`Target`, :mod:`~bottleneck.spectrum`, :mod:`~bottleneck.bounds`, ...) is
imported here; optimisation (``solve``, ``sweep``, ``fisher_estimate``), empirical studies
(``heads``, ``degeneration``, ``scaling``) and data sources (``corpora``, ``pythia``, ``lm``,
``checkpoints``) load on first use, so ``import bottleneck`` does not import torch,
matplotlib or transformers. ``bottleneck.bounds`` is both the call ``bounds(target, d)``
and the module of bound functions (``bottleneck.bounds.theorem_l``, ...). Theory:
docs/theory.md; proofs: proofs/README.md.
"""

import importlib
import types

from . import _validation, bounds, spectrum, targets
from .bounds import bounds_from_spectrum
from .sandwich import BoundValue, Sandwich
from .spectrum import tail_energy, w_error
from .target import Target

__version__ = "0.1.0"

#: name -> module (relative to this package) for the parts loaded on first use
_LAZY_MODULES = {
    "optim": "optim",
    "empirical": "empirical",
    "sources": "sources",
    "app": "app",
    "symbolic": "symbolic",
    "explicit": "explicit",
    "restriction": "restriction",
    "solver": "optim.solver",
    "fisher": "optim.fisher",
    "heads": "empirical.heads",
    "degeneration": "empirical.degeneration",
    "scaling": "empirical.scaling",
    "corpora": "sources.corpora",
    "pythia": "sources.pythia",
    "lm": "sources.lm",
    "checkpoints": "sources.checkpoints",
    "tokenizers": "sources.tokenizers",
}
#: name -> module that defines it
_LAZY_NAMES = {
    "solve": "optim.solver",
    "sweep": "optim.solver",
    "Solution": "optim.result",
    "FisherSolution": "optim.result",
    "fisher_estimate": "optim.fisher",
    "fisher_solution": "optim.fisher",
    "LowRankHead": "empirical.heads",
    "fit_head": "empirical.heads",
    "lr_sweep": "empirical.heads",
    "heldout_gap": "optim.heldout",
    "HeldoutGap": "optim.heldout",
}


def __getattr__(name):  # torch-backed parts load lazily: `import bottleneck` stays light
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{_LAZY_MODULES[name]}", __name__)
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'bottleneck' has no attribute {name!r}")


class _BoundsModule(types.ModuleType):
    """``bottleneck.bounds``: the module of bound functions, callable as ``bounds(target, d)``.

    ``bounds(target, d, **kwargs)`` is :func:`bottleneck.bounds.bounds`. With
    ``solve=True`` it first runs the solver and the Fisher estimate
    (:func:`bottleneck.optim.bounds_with_solver`, ``solve_kwargs`` passed to
    :func:`bottleneck.solve`), so the sandwich also holds ``solver``, ``E_F`` and the
    ratios ``E_1/solver``, ``E_F/solver``.
    """

    def __call__(self, target, d, *, solve: bool = False, solve_kwargs=None, **kwargs) -> Sandwich:
        if _validation.check_bool(solve, "solve"):
            from .optim.sandwich import bounds_with_solver

            return bounds_with_solver(target, d, solve_kwargs=solve_kwargs, **kwargs)
        return self.bounds(target, d, **kwargs)


bounds.__class__ = _BoundsModule

__all__ = [
    "Target",
    "Sandwich",
    "BoundValue",
    "bounds",
    "bounds_from_spectrum",
    "tail_energy",
    "w_error",
    "spectrum",
    "targets",
    "solve",
    "sweep",
    "Solution",
    "heldout_gap",
    "HeldoutGap",
    "fisher_estimate",
    "fisher_solution",
    "degeneration",
    "scaling",
    "pythia",
    "corpora",
    "symbolic",
    "heads",
    "LowRankHead",
    "fit_head",
    "lr_sweep",
]
