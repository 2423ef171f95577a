"""Every code block of docs/testing.md runs, so the guide cannot rot.

The guide's ``ini`` block becomes the project's ``pytest.ini`` and each
``python`` block a file of the project: the one its first line names
(``# reminders.py``, ``# engines/conftest.py``).  pytest then runs the project
in a fresh process, as a user's would, on the memory twin and again with
``--docket-url`` on a real Redis; every test function in the guide must pass.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
RUNS_DOCS_PAGES = ("docs/testing.md",)  # every python block (tests/docs_blocks.py)
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
FILE_NAME = re.compile(r"#\s*([\w/]+\.py)\s*$")


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int


def guide_blocks() -> list[Block]:
    text = GUIDE.read_text(encoding="utf-8")
    return [
        Block(match.group(1), match.group(2), text.count("\n", 0, match.start()) + 1)
        for match in FENCE.finditer(text)
    ]


def project_files() -> dict[str, str]:
    """The guide's project: file path -> contents."""
    files: dict[str, str] = {}
    for block in guide_blocks():
        if block.language == "ini":
            assert "pytest.ini" not in files, f"a second ini block at line {block.line}"
            files["pytest.ini"] = block.code
        elif block.language == "python":
            first_line = block.code.splitlines()[0]
            named = FILE_NAME.fullmatch(first_line)
            assert named, (
                f"the python block at docs/testing.md:{block.line} must start with a "
                f"'# file.py' comment naming the file it is, got {first_line!r}"
            )
            assert named.group(1) not in files, f"{named.group(1)} appears twice"
            files[named.group(1)] = block.code
        else:
            assert block.language in ("console",), (
                f"docs/testing.md:{block.line}: a {block.language!r} block is not checked; "
                f"use python, ini or console"
            )
    return files


def guide_tests(files: dict[str, str]) -> list[str]:
    """``path::name`` of every test function the guide defines."""
    found = []
    for path, code in files.items():
        if not path.endswith(".py") or not Path(path).name.startswith("test_"):
            continue
        for node in ast.parse(code).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
                "test_"
            ):
                found.append(f"{path}::{node.name}")
    return found


def write_project(pytester: pytest.Pytester) -> list[str]:
    files = project_files()
    for path, code in files.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")
    return guide_tests(files)


def check_every_test_passed(result: pytest.RunResult, tests: list[str]) -> None:
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    passed = {
        line.split()[1].split("[")[0] for line in result.outlines if line.startswith("PASSED ")
    }
    missing = [test for test in tests if test not in passed]
    assert not missing, f"guide tests that did not pass: {missing}"


def test_the_guide_is_a_whole_project() -> None:
    files = project_files()
    assert "pytest.ini" in files and "reminders.py" in files
    assert len(guide_tests(files)) >= 15


def test_the_guide_runs_on_the_memory_twin(pytester: pytest.Pytester) -> None:
    tests = write_project(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    check_every_test_passed(result, tests)


def test_the_guide_runs_unchanged_on_real_redis(
    pytester: pytest.Pytester, redis_server_url: str
) -> None:
    tests = write_project(pytester)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rA", "--docket-url", redis_server_url
    )
    result.stdout.fnmatch_lines([f"docket_testing: docket fixture on {redis_server_url}"])
    check_every_test_passed(result, tests)
