"""No module of the library grows past 500 lines.

Modules aim at 400 lines or fewer, each with one job; past 500 a module is
doing more than one and is split by responsibility.  This pins the ceiling so
a module cannot drift back over it unnoticed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CEILING = 500
PACKAGES = ("docket", "docket_testing")


def modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_the_packages_have_modules() -> None:
    assert len(modules()) > 50


@pytest.mark.parametrize("module", modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_module_is_over_the_ceiling(module: Path) -> None:
    lines = len(module.read_text(encoding="utf-8").splitlines())
    assert lines <= CEILING, f"{module.relative_to(ROOT)} has {lines} lines (ceiling {CEILING})"
