"""Nothing in docket/ reads the wall clock or sleeps except through docket/clock.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "docket"

FORBIDDEN_CALLS = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("time", "perf_counter"),
    ("time", "perf_counter_ns"),
    ("time", "sleep"),
    ("asyncio", "sleep"),
    ("asyncio", "wait_for"),
    ("asyncio", "timeout"),
    ("asyncio", "timeout_at"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("loop", "time"),
    ("uuid", "uuid1"),
}
FORBIDDEN_IMPORTS = {"time"}


def violations(source: str) -> list[str]:
    found: list[str] = []
    tree = ast.parse(source)
    # asyncio.sleep(0) only yields to the loop; it waits for no time at all.
    yields = {
        id(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == 0
    }
    for node in ast.walk(tree):
        if id(node) in yields:
            continue
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name in FORBIDDEN_IMPORTS]
        elif isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN_IMPORTS:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found += [
                f"from {node.module} import {a.name}"
                for a in node.names
                if (node.module.rsplit(".", 1)[-1], a.name) in FORBIDDEN_CALLS
            ]
        elif isinstance(node, ast.Attribute):
            owner = node.value
            owner_name = (
                owner.id
                if isinstance(owner, ast.Name)
                else owner.attr
                if isinstance(owner, ast.Attribute)
                else None
            )
            if (owner_name, node.attr) in FORBIDDEN_CALLS:
                found.append(f"{owner_name}.{node.attr} (line {node.lineno})")
    return found


ALLOWED = {
    # A deadline on one network round trip to Redis (what a socket timeout
    # would do inside redis-py), not a decision about docket time.
    ("engines/redis/connections.py", "from asyncio import timeout"),
    # The same deadlines, timed by one timer for all commands.
    ("engines/redis/deadlines.py", "loop.time"),
}

MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "clock.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_uses_only_the_clock(module: Path) -> None:
    relative = str(module.relative_to(PACKAGE))
    # An allowance names the read, not its line, so that edits above it keep it.
    found = [
        v
        for v in violations(module.read_text())
        if (relative, v.split(" (line ")[0]) not in ALLOWED
    ]
    assert found == []


def test_the_scan_catches_wall_clock_reads() -> None:
    sample = (
        "import time\nfrom datetime import datetime\nx = datetime.now()\n"
        "await asyncio.sleep(1)\nawait asyncio.sleep(0)\nfrom asyncio import sleep\n"
    )
    assert sorted(violations(sample)) == sorted(
        [
            "import time",
            "datetime.now (line 3)",
            "asyncio.sleep (line 4)",
            "from asyncio import sleep",
        ]
    )
