"""The layout of the package, checked (docs/design.md): imports point one way, no import
cycles, short functions.

Every ``import`` and ``from ... import`` statement of ``bottleneck/`` counts, at module level
or inside a function, relative or absolute. Importing ``bottleneck.a.b`` also runs the
package ``bottleneck.a``, so it counts as importing both.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bottleneck"
MAX_FUNCTION_LINES = 80

#: Layers, lowest first; a module imports only from its own layer and the layers below.
LAYERS = (
    ("utilities", ("_validation", "_io", "_packages", "_device", "_result", "_compat")),
    (
        "core",
        (
            "target",
            "gram_blocks",
            "gram_spectrum",
            "spectrum",
            "sandwich",
            "symbolic",
            "explicit",
            "restriction",
            "block_spectral",
            "block_search",
            "bounds",
        ),
    ),
    ("optimisation", ("optim",)),
    ("studies and sources", ("empirical", "sources", "targets", "data")),
    ("application", ("app",)),
    ("facade", ("__init__", "__main__")),
)
#: The layer whose parts stay apart (empirical studies do not use data sources, nor the
#: reverse), and the one import allowed between its parts (targets are built from sources).
SEPARATE_PARTS = "studies and sources"
ACROSS = {("targets", "sources")}


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (packages by their name)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(importer: str, node) -> list[str]:
    """The package's modules an import statement of ``importer`` loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
        return [n for n in names if n.split(".")[0] == "bottleneck"]
    if node.level == 0:
        if node.module.split(".")[0] != "bottleneck":
            return []
        base = node.module
    else:
        package = importer if _is_package(importer) else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    # `from pkg import name` loads the submodule pkg.name when there is one
    subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
    return [base] + subs


def _ancestors(name: str) -> list[str]:
    """``name`` and the packages above it, the root ``bottleneck`` excluded."""
    parts = name.split(".")
    return [".".join(parts[:k]) for k in range(2, len(parts) + 1)]


def _loaded(importer: str, name: str) -> list[str]:
    """What importing ``name`` from ``importer`` runs: ``name`` and the packages above it,
    except those the importer itself lies in (they are already being imported)."""
    mine = set(_ancestors(importer))
    return [m for m in _ancestors(name) if m not in mine and m in MODULES]


@functools.cache
def _imports() -> dict[str, frozenset[str]]:
    """Module -> the package's modules it imports anywhere in its body."""
    graph = {}
    for name, path in MODULES.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(name, node):
                    found.update(_loaded(name, target))
        graph[name] = frozenset(found)
    return graph


def _part(name: str) -> str:
    """The part of the layout a module belongs to: its first name below ``bottleneck``."""
    parts = name.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _layer(name: str) -> int:
    part = _part(name)
    if name == "bottleneck.__main__":
        part = "__main__"
    for index, (_, parts) in enumerate(LAYERS):
        if part in parts:
            return index
    raise AssertionError(f"{name} is in no layer of LAYERS: add it to one")


def _cycle(graph) -> list[str] | None:
    """One import cycle of ``graph`` (a path returning to its start), or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_import_graph_is_read():
    graph = _imports()
    assert "bottleneck.target" in graph["bottleneck.bounds"]
    assert "bottleneck.optim.newton" in graph["bottleneck.optim.solver"]
    assert "bottleneck.sources" in graph["bottleneck.targets.ngram"]  # the package runs too


def test_no_import_cycle():
    cycle = _cycle(_imports())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down_the_layers(name):
    mine = _layer(name)
    for target in sorted(_imports()[name]):
        theirs = _layer(target)
        assert theirs <= mine, (
            f"{name} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]}), a layer above"
        )
        if theirs == mine and LAYERS[mine][0] == SEPARATE_PARTS and _part(name) != _part(target):
            assert (_part(name), _part(target)) in ACROSS, (
                f"{name} imports {target}: separate parts of the {LAYERS[mine][0]} layer"
            )


@pytest.mark.parametrize("name", sorted(MODULES))
def test_functions_are_short(name):
    """No function or method longer than 80 lines, def line to last line, docstring included."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    long = [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{name}: " + "; ".join(long)


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The cycle finder finds a cycle and the length rule counts the docstring."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    tree = ast.parse(f'def f():\n    """doc"""\n{body}\n')
    node = tree.body[0]
    assert node.end_lineno - node.lineno + 1 == MAX_FUNCTION_LINES + 2


def test_import_bottleneck_stays_light():
    """The facade imports the core only; torch, matplotlib and transformers load on first use
    of a name that needs them."""
    import subprocess
    import sys

    code = (
        "import sys, bottleneck as bn; bn.bounds; bn.targets.synthetic; "
        "print(sorted(m for m in ('torch', 'matplotlib', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
