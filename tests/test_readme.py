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
