"""Every python block of README.md and docs/ is run by a docs test, or says why not.

The docs test modules (``tests/test_docs_*.py``, ``conformance/test_guide_*.py``)
declare what they run, ``RUNS_DOCS_PAGES`` or ``RUNS_DOCS_BLOCKS`` (see
``tests/docs_blocks.py``); this module checks those declarations against the pages.
A block marked ``<!-- not-run: why -->`` is reported as skipped, with its reason, in
every test run.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pytest
from docs_blocks import ROOT, Block, blocks, pages

PENDING: dict[str, str] = {}
"""Pages whose owners have not yet made every block run, and what is missing.

Their blocks are left out of ``test_every_python_block_runs_in_a_test`` and checked by
``test_a_pending_page_is_still_pending`` instead, which fails (strict xfail) as soon as
the page is covered, so that the entry is removed here.
"""


def docs_test_modules() -> list[ModuleType]:
    """The modules that run docs blocks, imported as pytest imports them.

    A module that skips itself on import (a missing optional dependency) runs nothing.
    """
    names = [path.stem for path in sorted((ROOT / "tests").glob("test_docs_*.py"))]
    names += [
        f"conformance.{path.stem}"
        for path in sorted((ROOT / "conformance").glob("test_guide_*.py"))
    ]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except pytest.skip.Exception:
            continue
    return modules


def run_blocks() -> dict[tuple[str, str], list[str]]:
    """(page, code) of every block some module runs -> the modules that run it."""
    run: dict[tuple[str, str], list[str]] = {}
    for module in docs_test_modules():
        declared: Iterable[Block] = list(getattr(module, "RUNS_DOCS_BLOCKS", ()))
        for page in getattr(module, "RUNS_DOCS_PAGES", ()):
            assert page in pages(), f"{module.__name__} runs {page}, which is not a docs page"
            declared = [*declared, *blocks(page)]
        for block in declared:
            run.setdefault((block.page, block.code), []).append(module.__name__)
    return run


def every_block() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


def test_there_are_blocks_and_runners() -> None:
    assert len(every_block()) > 30
    assert {module.__name__ for module in docs_test_modules()} >= {
        "test_docs_dependencies",
        "test_docs_guides",
    }


def unrun_blocks(run: dict[tuple[str, str], list[str]]) -> list[Block]:
    return [
        block
        for block in every_block()
        if not block.not_run and (block.page, block.code) not in run
    ]


def test_every_python_block_runs_in_a_test() -> None:
    unrun = [str(block) for block in unrun_blocks(run_blocks()) if block.page not in PENDING]
    assert not unrun, (
        "python blocks that no docs test runs (run them from a tests/test_docs_*.py module "
        "that declares RUNS_DOCS_PAGES or RUNS_DOCS_BLOCKS, or mark one "
        "<!-- not-run: why --> on the line above its fence):\n" + "\n".join(unrun)
    )


def test_a_block_marked_not_run_is_not_run() -> None:
    run = run_blocks()
    stale = [
        f"{block} ({', '.join(run[(block.page, block.code)])})"
        for block in every_block()
        if block.not_run and (block.page, block.code) in run
    ]
    assert not stale, "blocks marked not-run that a test runs (drop the marker):\n" + "\n".join(
        stale
    )


def test_a_declared_block_is_still_on_its_page() -> None:
    """A module's RUNS_DOCS_BLOCKS come from the pages as they are, not from old copies."""
    on_pages = {(block.page, block.code) for block in every_block()}
    gone = [
        f"{key[0]} ({', '.join(modules)})"
        for key, modules in run_blocks().items()
        if key not in on_pages
    ]
    assert not gone, "declared blocks that are on no page:\n" + "\n".join(gone)


NOT_RUN = [block for block in every_block() if block.not_run]


@pytest.mark.parametrize("block", NOT_RUN or [None], ids=str)
def test_blocks_not_run(block: Block | None) -> None:
    """Lists each block marked not-run, with its reason, as a skip in the run's summary."""
    if block is None:
        return
    assert block.not_run.strip(), f"{block}: a not-run marker must say why"
    pytest.skip(f"{block} is not run: {block.not_run}")


def test_the_marker_is_read_from_the_line_above_the_fence(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n<!-- not-run: a fragment of settings.py -->\n```python\nDEBUG = True\n```\n\n"
        "Text.\n\n```python\nprint(1)\n```\n\n```text\n1\n```\n",
        encoding="utf-8",
    )
    first, second = blocks("page.md", root=tmp_path)
    assert (first.line, first.not_run, first.output) == (4, "a fragment of settings.py", None)
    assert (second.line, second.not_run, second.output) == (10, None, "1\n")


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(page, marks=pytest.mark.xfail(reason=f"{page}: {why}", strict=True))
        for page, why in PENDING.items()
    ],
)
def test_a_pending_page_is_still_pending(page: str) -> None:
    """Fails while the page has blocks no test runs; passing means: drop it from PENDING."""
    assert page in pages(), f"{page} is gone: drop it from PENDING"
    assert not [block for block in unrun_blocks(run_blocks()) if block.page == page]
