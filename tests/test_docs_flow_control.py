"""Every python block of docs/flow-control.md runs as written, in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "flow-control.md"
RUNS_DOCS_PAGES = ("docs/flow-control.md",)  # every python block (tests/docs_blocks.py)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[tuple[int, str]]:
    text = GUIDE.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1))
        for match in PYTHON_BLOCK.finditer(text)
    ]


def test_the_guide_has_an_example_for_each_section() -> None:
    assert len(python_blocks()) == 5


@pytest.mark.parametrize(("line", "code"), python_blocks(), ids=lambda value: str(value)[:4])
def test_each_example_runs(line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    finished = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, (
        f"docs/flow-control.md:{line} failed:\n{finished.stdout}\n{finished.stderr}"
    )
