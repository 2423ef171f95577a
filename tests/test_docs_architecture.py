"""docs/architecture.md names only modules that exist, and every module of the worker package."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "architecture.md").read_text()
SOURCES = [
    path.relative_to(ROOT).as_posix()
    for folder in ("docket", "docket_testing", "tests")
    for path in (ROOT / folder).rglob("*")
    if path.suffix in {".py", ".lua"}
]


def named_files() -> set[str]:
    return {
        name
        for code in re.findall(r"`([^`\s]+)`", PAGE)
        for name in re.split(r"[,\s]+", code)
        if name.endswith((".py", ".lua"))
    }


def test_every_file_the_page_names_exists() -> None:
    missing = sorted(
        name
        for name in named_files()
        if not any(source == name or source.endswith("/" + name) for source in SOURCES)
    )
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_the_page_names_every_module_of_the_worker() -> None:
    named = named_files()
    worker_modules = sorted(
        source.rsplit("/", 1)[1]
        for source in SOURCES
        if source.startswith("docket/worker/") and not source.endswith("__init__.py")
    )
    unnamed = [
        module
        for module in worker_modules
        if not any(name.endswith(f"worker/{module}") for name in named)
    ]
    assert not unnamed, f"docs/architecture.md does not say what these own: {unnamed}"
