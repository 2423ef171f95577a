"""The python blocks of README.md and docs/, for the tests that run them.

Every python block must run in some test.  A docs test module says which blocks it runs:

* ``RUNS_DOCS_PAGES = ("docs/page.md", ...)``: it runs every python block of those pages;
* ``RUNS_DOCS_BLOCKS = [block, ...]``: it runs these ``Block`` objects (from ``blocks``).

``tests/test_docs_coverage.py`` reads those declarations from every ``tests/test_docs_*.py``
and ``conformance/test_guide_*.py`` module and fails for a block that none of them runs.
A block that cannot run (a fragment of a config file, say) is marked on the line just
above its fence with ``<!-- not-run: why -->``; the coverage test lists every such block.

A python block may be followed directly by a ``text`` block: what the program prints
(``Block.output``), which a test compares with what it printed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NOT_RUN = re.compile(r"<!--\s*not-run:(.*?)-->\s*\Z", re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One python block of a page."""

    page: str
    """The page, relative to the repository: ``docs/testing.md``, ``README.md``."""
    line: int
    """The line of its opening fence, from 1."""
    code: str
    output: str | None
    """The ``text`` block right after it, if there is one: what the program prints."""
    not_run: str | None
    """Why it is not run, from a ``<!-- not-run: why -->`` line above it; None if it is."""

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[str]:
    """Every page whose python blocks must run: README.md and docs/**/*.md."""
    docs = sorted((ROOT / "docs").rglob("*.md"))
    return ["README.md", *(path.relative_to(ROOT).as_posix() for path in docs)]


def blocks(page: str, root: Path = ROOT) -> list[Block]:
    """The python blocks of ``page`` (a path relative to ``root``), in order."""
    text = (root / page).read_text(encoding="utf-8")
    fences = list(FENCE.finditer(text))
    found = []
    for index, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        following = fences[index + 1] if index + 1 < len(fences) else None
        output = None
        if (
            following is not None
            and following.group(1) == "text"
            and not text[fence.end() : following.start()].strip()
        ):
            output = following.group(2)
        before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NOT_RUN.search(before)
        found.append(
            Block(
                page=page,
                line=text.count("\n", 0, fence.start()) + 1,
                code=fence.group(2),
                output=output,
                not_run=marker.group(1).strip() if marker else None,
            )
        )
    return found


def run_program(block: Block, directory: Path, timeout: float = 120) -> str:
    """Run ``block`` as a program in a fresh interpreter; return what it printed.

    Fails, with its output, if it exits with an error; if the page shows what it
    prints, fails unless it printed exactly that.
    """
    script = directory / "example.py"
    script.write_text(block.code, encoding="utf-8")
    finished = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=directory,
    )
    assert finished.returncode == 0, f"{block} failed:\n{finished.stdout}\n{finished.stderr}"
    if block.output is not None:
        assert finished.stdout == block.output, (
            f"{block} printed\n{finished.stdout}\nbut the page says it prints\n{block.output}"
            f"\n(stderr:\n{finished.stderr})"
        )
    return finished.stdout
