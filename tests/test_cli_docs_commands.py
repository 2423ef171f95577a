"""The commands of docs/production.md's "Operating from the command line" run as shown.

Each line of that section's bash block runs as a real ``docket`` process on
the suite's Redis, with ``--docket``/``--url`` from the environment as the
page says, beside a ``myapp/tasks.py`` that defines the ``charge`` task the
page strikes.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import uuid
from pathlib import Path

from cli_support.harness import ROOT, TIMEOUT, cli_env, docket_command

SECTION = "## Operating from the command line"
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.MULTILINE | re.DOTALL)

MYAPP_TASKS = '''
async def charge(order_id: int) -> None:
    """The task the page strikes."""


tasks = [charge]
'''


def commands() -> list[list[str]]:
    page = (ROOT / "docs" / "production.md").read_text(encoding="utf-8")
    section = page.split(SECTION, 1)[1].split("\n## ", 1)[0]
    [block] = BASH_BLOCK.findall(section)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_the_pages_commands_run(redis_server_url: str, tmp_path: Path) -> None:
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "tasks.py").write_text(MYAPP_TASKS)
    name = f"docs-{uuid.uuid4().hex[:8]}"
    env = cli_env({"DOCKET_URL": redis_server_url, "DOCKET_NAME": name})
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    outputs: list[str] = []
    ran = commands()
    assert [command[:2] for command in ran] == [
        ["docket", "ls"],
        ["docket", "clear"],
        ["docket", "clear"],
        ["docket", "clear"],
        ["docket", "strikes"],
        ["docket", "strike"],
        ["docket", "restore"],
    ]
    for command in ran:
        result = subprocess.run(
            docket_command(*command[1:]),
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, (command, result.stderr)
        assert "warning" not in result.stderr, (command, result.stderr)
        outputs.append(result.stdout)
    assert f"Would clear 0 tasks in docket {name!r}" in outputs[1]
    assert f"Striking 'charge' where order_id == 2002 in docket {name!r}" in outputs[5]
    assert f"Restoring 'charge' where order_id == 2002 in docket {name!r}" in outputs[6]
