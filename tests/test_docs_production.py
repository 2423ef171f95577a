"""docs/production.md's examples: each compiles and imports what it names, and each runs on memory://."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from docs_blocks import blocks

from docket import Docket, ExecutionState, VirtualClock, Worker

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "production.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)

RUNS_DOCS_PAGES = ("docs/production.md",)
"""Every python block of the page runs below: the dead-letter one and the event-loop one."""


def test_each_example_compiles_and_its_imports_resolve() -> None:
    blocks = PYTHON_BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
    assert blocks, "docs/production.md has no python example"
    for code in blocks:
        compile(code, str(GUIDE), "exec")
        imports = "\n".join(
            line for line in code.splitlines() if line.startswith(("import ", "from "))
        )
        exec(compile(imports, str(GUIDE), "exec"), {})


async def test_the_dead_letters_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The dead-letter example triages letters on a memory docket as it says."""
    [code] = [block for block in PYTHON_BLOCK.findall(GUIDE.read_text()) if "triage" in block]
    namespace: dict[str, object] = {}
    exec(compile(code, str(GUIDE), "exec"), namespace)
    triage = namespace["triage"]

    async def send_email(to: str) -> None:
        """Known to the producer only."""

    clock = VirtualClock(datetime(2030, 1, 1, tzinfo=timezone.utc))
    url = f"memory://docs-{uuid.uuid4().hex[:8]}"
    async with Docket("docs", url, clock=clock) as docket:
        async with Docket("docs", url, clock=clock) as producer:
            await producer.add(send_email, key="welcome")("ada@example.com")
        async with Worker(docket, unknown_task_grace=timedelta(0)) as worker:
            await worker.run_until_finished()
        [letter] = await docket.dead_letters()

        await triage(docket)  # type: ignore[operator]

        assert await docket.dead_letters() == []
        replayed = await docket.get_execution("welcome-again")
        assert replayed is not None and replayed.state is ExecutionState.SCHEDULED
        assert replayed.args == ("ada@example.com",)
    out = capsys.readouterr().out
    assert f"{letter.id} welcome unknown task 'send_email' ('ada@example.com',) {{}}" in out


def test_the_event_loop_example_runs_a_worker_on_docket_s_loop() -> None:
    """The own-loop example runs its worker on ``docket.cli.event_loop``'s loop.

    The page's Redis URL becomes a memory one, and ``run_forever`` becomes
    ``run_until_finished`` after one task, so the program ends by itself.
    """
    [block] = [b for b in blocks("docs/production.md") if "event_loop.run(" in b.code]
    url = f"memory://docs-{uuid.uuid4().hex[:8]}"
    code = block.code.replace("redis://redis:6379/0", url)
    assert code != block.code, "the example no longer names redis://redis:6379/0"
    ran: list[str] = []

    async def hello() -> None:
        ran.append(type(asyncio.get_running_loop()).__name__)

    code = code.replace(
        "await worker.run_forever()",
        "await docket.add(hello)()\n            await worker.run_until_finished()",
    )
    assert "run_until_finished" in code, "the example no longer calls run_forever"
    exec(compile(code, str(GUIDE), "exec"), {"hello": hello, "__name__": "docs_example"})
    assert len(ran) == 1
