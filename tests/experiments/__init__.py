"""Tests of the scripts in experiments/ (not a package: each is loaded from its file)."""

import importlib.util
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def load_experiment(name: str):
    """The module of ``experiments/<name>.py``, executed afresh (module name
    ``<name>_experiment``, so it cannot shadow an installed module of the same name)."""
    spec = importlib.util.spec_from_file_location(f"{name}_experiment", EXPERIMENTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
