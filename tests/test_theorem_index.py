"""The index in proofs/README.md points at things that exist.

Each row names a proof file, a check module, a library function and a test; a renamed
function or a deleted proof breaks the path theorem -> proof -> function -> test, and this
test says which row.
"""

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "proofs" / "README.md"
RESULTS = [
    "Lemma K",
    "Lemma S",
    "Lemma O",
    "Rank fact",
    "Eckart–Young–Mirsky",
    "Theorem U",
    "Theorem P",
    "Theorem L",
    "Lemma R",
    "Estimates",
    "Population bracket",
]


def _rows():
    rows = []
    for line in INDEX.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("Result",) and not set(cells[0]) <= {"-"}:
            rows.append(cells)
    return rows


def _code(cell):
    found = re.findall(r"`([^`]+)`", cell)
    assert len(found) == 1, f"expected one code span in {cell!r}"
    return found[0]


def _resolve(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def _defined_functions(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_result_has_a_row():
    names = [r[0] for r in _rows()]
    for result in RESULTS:
        assert any(n.startswith(result) for n in names), f"{result} missing from proofs/README.md"


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r[0][:30])
def test_row_points_at_existing_things(row):
    _, proof, checks, function, test = row
    link = re.search(r"\(([^)]+\.md)\)", proof)
    if link:
        assert (ROOT / "proofs" / link.group(1)).is_file(), proof
    check_file = ROOT / "proofs" / _code(checks)
    assert check_file.is_file(), checks
    assert any(f.startswith("check_") for f in _defined_functions(check_file)), checks
    obj = _resolve(_code(function))
    assert callable(obj), function
    doc = obj.__doc__ or ""
    if link and _code(function).startswith("bottleneck.bounds"):
        assert "proofs/" in doc, f"{function} docstring should name its proof file"
    test_path, test_name = _code(test).split("::")
    assert test_name in _defined_functions(ROOT / test_path), test
