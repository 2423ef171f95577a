"""Every python block of docs/dependencies.md runs as written and prints what the page shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from docs_blocks import Block, blocks, run_program

PAGE = "docs/dependencies.md"
RUNS_DOCS_PAGES = (PAGE,)


def test_each_dependency_the_issue_names_has_a_tested_example() -> None:
    names = ("ExponentialRetry", "Timeout", "Depends", "Shared", "TaskLogger", "Logged")
    for name in names:
        assert any(name in block.code for block in blocks(PAGE)), f"no example uses {name}"
    assert all(block.output is not None for block in blocks(PAGE)), "each shows its output"


@pytest.mark.parametrize("block", blocks(PAGE), ids=str)
def test_each_example_runs_and_prints_what_the_page_shows(block: Block, tmp_path: Path) -> None:
    run_program(block, tmp_path)
