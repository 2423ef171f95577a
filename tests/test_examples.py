"""Every program in examples/ runs to the end, as the README tells users to run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert {path.name for path in EXAMPLES} >= {"demo.py", "agenda.py"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(example: Path) -> None:
    finished = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, f"{example.name} failed:\n{finished.stdout}\n{finished.stderr}"
    assert finished.stdout.strip(), f"{example.name} printed nothing"
    assert "Traceback" not in finished.stderr, finished.stderr
