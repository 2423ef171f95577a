"""The docs site builds with ``mkdocs build --strict``: no warning, every page in the nav.

mkdocs.yml turns broken links, missing anchors, pages left out of the nav and
docstrings mkdocstrings cannot render into warnings, and ``--strict`` makes any
warning fail the build; this test runs that build (so CI does) and shows
mkdocs' own output when it fails.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    finished = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        # The theme's end-of-life banner is not a build problem; keep it out of the output.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    warnings = [line for line in output.splitlines() if re.match(r"\s*WARNING\b", line)]
    assert not warnings, "mkdocs warned:\n" + "\n".join(warnings)
    return out


def letters(text: str) -> str:
    """``text`` without markup, backquotes or white space, to compare words only."""
    return re.sub(r"\s+|`", "", html.unescape(re.sub(r"<[^>]+>", " ", text)))


def test_every_markdown_page_is_built(site: Path) -> None:
    pages = sorted((ROOT / "docs").rglob("*.md"))
    assert pages
    for page in pages:
        relative = page.relative_to(ROOT / "docs").with_suffix("")
        if relative.name == "index":
            built = site / relative.parent / "index.html"
        else:
            built = site / relative / "index.html"
        assert built.is_file(), f"docs/{page.relative_to(ROOT / 'docs')} was not built"


def test_the_reference_is_generated_from_the_docstrings(site: Path) -> None:
    """The reference pages carry the docstrings themselves, not only headings."""
    from docket import Docket, Timeout, Worker

    expected = {
        "reference/docket/index.html": Docket,
        "reference/worker/index.html": Worker,
        "reference/dependencies/index.html": Timeout,
    }
    for path, documented in expected.items():
        first_line = (documented.__doc__ or "").strip().splitlines()[0]
        assert first_line, f"{documented.__name__} has no docstring"
        page = (site / path).read_text(encoding="utf-8")
        assert letters(first_line) in letters(page), f"{path} lacks {first_line!r}"
