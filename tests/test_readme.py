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
