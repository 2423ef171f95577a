"""``docket_testing`` is built on docket's public API only.

So that other test tools can be built the same way, the plugin and its
helpers import no underscored name from ``docket`` (nor any name from an
underscored module) and read no underscored attribute of anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "docket_testing"
MODULES = sorted(PACKAGE.glob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[str]:
    """Every private docket import and private attribute read in ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "docket":
            module = node.module or ""
            if any(_private(part) for part in module.split(".")):
                found.append(f"line {node.lineno}: from {module} import ...")
            found += [
                f"line {node.lineno}: from {module} import {alias.name}"
                for alias in node.names
                if _private(alias.name)
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] == "docket"
                and any(_private(part) for part in alias.name.split("."))
            ]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            # Its own objects' private state is the module's business; anything
            # reached through another object (docket._x, worker._y) is not.
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in {"self", "cls"}):
                found.append(f"line {node.lineno}: .{node.attr}")
    return found


def test_the_checker_finds_private_uses() -> None:
    source = (
        "from docket.worker import _claims\n"
        "from docket._impl import x\n"
        "import docket._impl\n"
        "worker._stopping.set()\n"
        "self._mine = 1\n"
        "from docket import Docket\n"
    )
    assert private_uses(source) == [
        "line 1: from docket.worker import _claims",
        "line 2: from docket._impl import ...",
        "line 3: import docket._impl",
        "line 4: ._stopping",
    ]


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_docket_testing_uses_only_public_names(module: Path) -> None:
    assert private_uses(module.read_text(encoding="utf-8")) == []
