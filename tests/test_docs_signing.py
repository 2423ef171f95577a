"""Every python block of docs/signing.md runs as written, in a fresh interpreter,
and prints the ``text`` block that follows it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = "docs/signing.md"
RUNS_DOCS_PAGES = (PAGE,)
GUIDE = Path(__file__).resolve().parent.parent / PAGE
EXAMPLE = re.compile(r"^```python\n(.*?)^```\n(?:\n```text\n(.*?)^```$)?", re.MULTILINE | re.DOTALL)


def examples() -> list[tuple[int, str, str | None]]:
    text = GUIDE.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2))
        for match in EXAMPLE.finditer(text)
    ]


def test_the_page_has_its_examples_and_each_shows_its_output() -> None:
    found = examples()
    assert len(found) == 5
    assert all(output is not None for _, _, output in found)


@pytest.mark.parametrize(("line", "code", "output"), examples(), ids=lambda v: str(v)[:4])
def test_each_example_prints_what_the_page_says(
    line: int, code: str, output: str | None, tmp_path: Path
) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k != "DOCKET_SIGNING_KEY"}
    finished = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=environment
    )
    assert finished.returncode == 0, f"{PAGE}:{line} failed:\n{finished.stdout}\n{finished.stderr}"
    assert finished.stdout == output, f"{PAGE}:{line} printed:\n{finished.stdout}"
