"""bottleneck: certified bounds on the loss of rank-d softmax heads.

Quick start::

    import bottleneck as bn
    target, _ = bn.targets.synthetic(200, 300, spectrum="power", decay=0.8, scale=5.0)
    print(bn.bounds(target, d=16))

Public surface: :class:`Target`, ``bounds(target, d)``, :func:`bounds_from_spectrum`,
:class:`Sandwich`, ``solve``/``sweep`` (the numerical optimum), ``fit_head`` (trained
rank-r heads), and the modules :mod:`~bottleneck.spectrum`, :mod:`~bottleneck.targets`.
``bottleneck.bounds`` is both the call ``bounds(target, d)`` and the module of bound
functions (``bottleneck.bounds.theorem_l``, ...). Theory: docs/theory.md;
proofs: proofs/README.md.
"""

from . import bounds, spectrum, targets
from .bounds import bounds_from_spectrum
from .sandwich import BoundValue, Sandwich
from .spectrum import tail_energy, w_error
from .target import Target

#: name -> module (relative to this package) for the parts loaded on first use
_LAZY_MODULES = {
    "degeneration": "degeneration",
    "scaling": "scaling",
    "symbolic": "symbolic",
    "solver": "solver",
    "fisher": "fisher",
    "heads": "heads",
    "sources": "sources",
    "corpora": "sources.corpora",
    "pythia": "sources.pythia",
    "lm": "sources.lm",
    "checkpoints": "sources.checkpoints",
    "tokenizers": "sources.tokenizers",
}


def __getattr__(name):  # torch-backed parts load lazily: `import bottleneck` stays light
    if name in ("solve", "sweep", "Solution"):
        from . import solver

        return getattr(solver, name)
    if name in ("LowRankHead", "fit_head", "lr_sweep"):
        from . import heads

        return getattr(heads, name)
    if name in ("fisher_estimate", "fisher_solution"):
        from . import fisher

        return getattr(fisher, name)
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f".{_LAZY_MODULES[name]}", __name__)
    raise AttributeError(f"module 'bottleneck' has no attribute {name!r}")


__version__ = "0.1.0"

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
    "fisher_estimate",
    "fisher_solution",
    "degeneration",
    "scaling",
    "pythia",
    "symbolic",
    "heads",
    "LowRankHead",
    "fit_head",
    "lr_sweep",
]
