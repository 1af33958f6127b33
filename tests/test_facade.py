"""bottleneck/__init__.py: the names users call keep resolving, to the modules that define them."""

import importlib
import sys

import pytest

import bottleneck as bn

NAMES = {
    "bounds_from_spectrum": "bottleneck.bounds",
    "solve": "bottleneck.optim.solver",
    "sweep": "bottleneck.optim.solver",
    "Solution": "bottleneck.optim.result",
    "fisher_estimate": "bottleneck.optim.fisher",
    "fisher_solution": "bottleneck.optim.fisher",
    "fit_head": "bottleneck.empirical.heads",
    "LowRankHead": "bottleneck.empirical.heads",
    "lr_sweep": "bottleneck.empirical.heads",
    "Target": "bottleneck.target",
    "Sandwich": "bottleneck.sandwich",
}
MODULES = {
    "heads": "bottleneck.empirical.heads",
    "degeneration": "bottleneck.empirical.degeneration",
    "scaling": "bottleneck.empirical.scaling",
    "pythia": "bottleneck.sources.pythia",
    "corpora": "bottleneck.sources.corpora",
    "lm": "bottleneck.sources.lm",
    "checkpoints": "bottleneck.sources.checkpoints",
    "symbolic": "bottleneck.symbolic",
    "spectrum": "bottleneck.spectrum",
    "targets": "bottleneck.targets",
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_names_resolve_to_their_definitions(name):
    obj = getattr(bn, name)
    assert obj.__module__ == NAMES[name], (name, obj.__module__)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_resolve(name):
    assert getattr(bn, name) is importlib.import_module(MODULES[name])


def test_from_imports_and_the_callable_bounds_module():
    from bottleneck import corpora, degeneration, heads, scaling

    assert {m.__name__ for m in (corpora, degeneration, heads, scaling)} == {
        MODULES[n] for n in ("corpora", "degeneration", "heads", "scaling")
    }
    assert callable(bn.bounds) and bn.bounds is sys.modules["bottleneck.bounds"]
    assert bn.bounds.theorem_l is importlib.import_module("bottleneck.bounds").theorem_l
    assert all(callable(f) for f in (bn.targets.synthetic, bn.targets.ngram, bn.targets.from_model))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        bn.nothing  # noqa: B018
    assert set(NAMES) | {"bounds", "spectrum", "targets"} <= set(bn.__all__)
