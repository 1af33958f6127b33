"""Locating data files shipped inside optional PyPI packages, without importing them."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_file(package: str, relative: str, fix: str) -> Path:
    """``<package dir>/<relative>`` found with :func:`importlib.util.find_spec`.

    The package is never imported (some pull large stacks). Raises ImportError naming the
    ``fix`` (a pip command) when the package is absent, FileNotFoundError when the file is.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{package} is not installed; run: {fix}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {fix}")
    return path
