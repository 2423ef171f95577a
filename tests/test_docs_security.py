"""docs/security.md: every python block runs as written, and its lists match the code.

The ACL block runs in ``tests/test_redis_acl.py`` (which reads it from the
page); TLS against a real server in ``tests/test_redis_tls.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from docket.engines.redis.tls import tls_options

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "security.md"
RUNS_DOCS_PAGES = ("docs/security.md",)  # every python block (tests/docs_blocks.py)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[tuple[int, str]]:
    text = GUIDE.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1))
        for match in PYTHON_BLOCK.finditer(text)
    ]


def test_the_page_has_its_examples() -> None:
    assert len(python_blocks()) == 5


@pytest.mark.parametrize(("line", "code"), python_blocks(), ids=lambda value: str(value)[:4])
def test_each_example_runs(line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    finished = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, (
        f"docs/security.md:{line} failed:\n{finished.stdout}\n{finished.stderr}"
    )
    # Every example shows a URL or an error; none shows a password.
    for secret in ("app-password", "hunter2"):
        assert secret not in finished.stdout + finished.stderr


def test_every_tls_option_is_documented() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    table = {name for name in re.findall(r"`(ssl_[a-z_]+)`", text)}
    assert table == set(tls_options())
