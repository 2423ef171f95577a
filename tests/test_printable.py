"""Nothing stored reaches a log line or a terminal raw: control characters are escaped.

A key like ``"a\\nb\\x1b[31mRED"`` would forge a second log line and paint
the operator's terminal red.  ``docket.printable`` escapes it, and the
worker's log lines, ``docket snapshot`` and ``docket watch`` go through it;
each is checked on memory and on the suite's real Redis.
"""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from datetime import timedelta

import pytest
from rich.console import Console
from typer.testing import CliRunner

from docket import Docket, Worker
from docket.cli import app
from docket.cli.snapshot import render_snapshot
from docket.cli.watch import WatchView
from docket.printable import printable
from docket.states import ExecutionState
from tests.engine_urls import docket_url as docket_url  # memory://, then real Redis

HOSTILE = "a\nb\x1b[31mRED\r\x07\x9b\u2028!"
ESCAPED = "a\\nb\\x1b[31mRED\\r\\x07\\x9b\\u2028!"

runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain key-1/ü", "plain key-1/ü"),
        ("tab\there", "tab\\there"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("back\\slash", "back\\slash"),
        ("", ""),
        (HOSTILE, ESCAPED),
    ],
)
def test_printable_escapes_only_control_characters(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_every_c0_c1_and_line_separator_is_escaped() -> None:
    controls = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
    for code in controls:
        shown = printable(chr(code))
        assert shown.isprintable() and shown.startswith("\\"), (code, shown)


def _unique(url: str) -> str:
    return f"printable-{uuid.uuid4().hex[:8]}"


async def hostile_task(value: int) -> None:
    """Named plainly; its key is the hostile part."""


def _plain(record: logging.LogRecord) -> str:
    return logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)


async def test_worker_lines_show_a_hostile_key_escaped(
    docket_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="docket")
    async with Docket(_unique(docket_url), docket_url) as docket:
        await docket.add(hostile_task, key=HOSTILE)(1)
        async with Worker(docket) as worker:
            await worker.run_until_finished()
    lines = [_plain(r) for r in caplog.records if r.name == "docket.worker"]
    about = [line for line in lines if ESCAPED in line]
    assert [line.split()[2] for line in about] == ["Started", "Completed"], lines
    for line in lines:
        assert "\n" not in line and "\x1b" not in line and "\r" not in line, line


def _run_cli(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "400"})
    return result.stdout


def test_snapshot_shows_a_hostile_key_escaped(docket_url: str) -> None:
    """The table ``docket snapshot`` prints (memory:// lives in this process only, so the
    table is rendered here; on Redis the command itself runs too)."""
    name = _unique(docket_url)
    buffer = io.StringIO()

    async def add_and_render() -> None:
        async with Docket(name, docket_url) as docket:
            later = docket.clock.now() + timedelta(hours=1)
            await docket.add(hostile_task, key=HOSTILE, when=later)(1)
            now = docket.clock.now()
            stored = await docket.engine.snapshot(now)
            console = Console(file=buffer, width=400, force_terminal=False)
            render_snapshot(console, docket, stored, now, workers=0, stats=True)

    asyncio.run(add_and_render())
    outputs = [buffer.getvalue()]
    if not docket_url.startswith("memory"):
        outputs.append(_run_cli("snapshot", "--docket", name, "--url", docket_url))
    for out in outputs:
        assert ESCAPED in out, out
        assert "\x1b" not in out and "\r" not in out and "\x07" not in out


def test_watch_shows_a_hostile_key_escaped(docket_url: str) -> None:
    name = _unique(docket_url)
    url = f"memory://{name}" if docket_url.startswith("memory") else docket_url

    async def add_and_cancel() -> None:
        async with Docket(name, url) as docket:
            await docket.add(
                hostile_task, key=HOSTILE, when=docket.clock.now() + timedelta(hours=1)
            )(1)
            await docket.cancel(HOSTILE)

    asyncio.run(add_and_cancel())
    out = _run_cli("watch", HOSTILE, "--docket", name, "--url", url)
    assert out.startswith(f"{ESCAPED}: cancelled"), out
    assert "\x1b" not in out and "\r" not in out and out.count("\n") == 1


def test_a_watch_line_escapes_every_stored_text() -> None:
    view = WatchView(
        HOSTILE,
        function="task\x1b]0;title\x07",
        state=ExecutionState.FAILED,
        worker="w\n2",
        error="Boom: \x1b[2J",
    )
    from datetime import datetime, timezone

    line = view.line(datetime.now(timezone.utc))
    assert line.isprintable(), line
    assert "task=task\\x1b]0;title\\x07" in line and "worker=w\\n2" in line
    assert "error=Boom: \\x1b[2J" in line
