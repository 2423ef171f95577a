"""Every python block of docs/flow-control.md runs as written, in a fresh interpreter."""

from __future__ import annotations

from pathlib import Path

import pytest
from docs_blocks import Block, blocks, run_program

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "flow-control.md"
RUNS_DOCS_PAGES = ("docs/flow-control.md",)  # every python block (tests/docs_blocks.py)


def test_the_guide_has_an_example_for_each_section() -> None:
    assert len(blocks("docs/flow-control.md")) == 5


@pytest.mark.parametrize("block", blocks("docs/flow-control.md"), ids=str)
def test_each_example_runs(block: Block, tmp_path: Path) -> None:
    run_program(block, tmp_path)
