"""_packages: data files of optional packages are found without importing them."""

from __future__ import annotations

import pytest

from bottleneck._packages import package_file


def test_missing_package_and_missing_file_name_the_fix(tmp_path):
    with pytest.raises(ImportError, match="run: pip install nothing-here"):
        package_file("no_such_package_xyz", "a.txt", "pip install nothing-here")
    with pytest.raises(FileNotFoundError, match="reinstall with: pip install pytest"):
        package_file("pytest", "no/such/file.txt", "pip install pytest")
