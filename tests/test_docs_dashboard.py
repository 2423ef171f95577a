"""docs/dashboard.md: every python block runs as written, and every option it names exists.

Each python block runs in a fresh interpreter.  The console blocks name
``docket dashboard``'s options; they must all be in its ``--help``, and the
screenshot the page shows must be there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from docs_blocks import Block, blocks, run_program
from typer.testing import CliRunner

from docket.cli.app import app

pytest.importorskip("starlette")

DOCS = Path(__file__).resolve().parent.parent / "docs"
GUIDE = DOCS / "dashboard.md"
RUNS_DOCS_PAGES = ("docs/dashboard.md",)  # every python block (tests/docs_blocks.py)


def test_the_guide_has_its_examples() -> None:
    assert len(blocks("docs/dashboard.md")) == 2


@pytest.mark.parametrize("block", blocks("docs/dashboard.md"), ids=str)
def test_each_example_runs(block: Block, tmp_path: Path) -> None:
    run_program(block, tmp_path)


def test_every_option_it_names_exists() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    named = set(re.findall(r"`(--[a-z-]+)", text)) | set(
        re.findall(r"docket dashboard[^\n`]*?(--[a-z-]+)", text)
    )
    assert {"--read-only", "--allow-unauthenticated-actions", "--host"} <= named
    shown = CliRunner().invoke(app, ["dashboard", "--help"], terminal_width=200).output
    assert not [option for option in named if option not in shown]


def test_the_screenshot_is_there() -> None:
    assert "](dashboard.png)" in GUIDE.read_text(encoding="utf-8")
    assert (DOCS / "dashboard.png").read_bytes().startswith(b"\x89PNG")
