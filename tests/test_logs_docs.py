"""docs/production.md's "Logs" examples are what the worker writes.

Each example line is compared with a line ``docket.worker.event_log`` makes
for the same event, numbers and durations aside; the JSON example parses
and has the fields a run line carries.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from docket import Docket, VirtualClock
from docket.execution import Execution
from docket.worker import event_log

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "production.md"
SECTION = GUIDE.read_text(encoding="utf-8").split("### Logs", 1)[1].split("\n## ", 1)[0]
TEXT_BLOCKS = re.findall(r"^```text\n(.*?)^```$", SECTION, re.MULTILINE | re.DOTALL)
JSON_BLOCKS = re.findall(r"^```json\n(.*?)^```$", SECTION, re.MULTILINE | re.DOTALL)


def shape(line: str) -> str:
    """A line with its durations, lateness and numbers taken out."""
    line = re.sub(r"\d+(\.\d+)?(ms|s)\b", "<t>", line)
    return re.sub(r"\d+", "<n>", line)


async def charge(order: str) -> None:
    """The example's task."""


async def send_email(to: str) -> None:
    """The example's other task."""


async def made_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    caplog.set_level(logging.DEBUG, logger="docket.worker")
    clock = VirtualClock(datetime(2030, 1, 1, tzinfo=timezone.utc))
    async with Docket("orders", "memory://docs-logs", clock=clock) as docket:
        now = clock.now()

        def run(function: object, key: str, attempt: int = 1) -> Execution:
            return Execution(docket, function, ("x",), {}, key, now, attempt)  # type: ignore[arg-type]

        worker = "web-1#4121"
        event_log.log_worker_started(
            worker, "orders", "redis://:secret@redis:6379/0", 10, ["send_email", "charge"]
        )
        event_log.log_started(run(charge, "order-1042"), worker, 0.003)
        event_log.log_completed(run(charge, "order-1042"), worker, 0.12)
        event_log.log_retrying(
            run(charge, "order-1043"),
            worker,
            2.1,
            TimeoutError("gateway slow"),
            now + timedelta(seconds=2),
            3,
        )
        event_log.log_failed(
            run(charge, "order-1043", 3), worker, 30.0, TimeoutError("gateway slow"), gave_up=True
        )
        event_log.log_cancelled(run(send_email, "welcome-7"), worker)
        event_log.log_struck(run(charge, "order-1044"), worker)
        event_log.log_set_aside("'order-1045'", "unknown task 'refund'")
        trouble = event_log.ConnectionTrouble(worker, "claim work")
        trouble.failed(ConnectionError("Connection closed by server."), 0.0, 5.0)
        trouble.succeeded(7.2)
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]


def test_there_are_examples() -> None:
    assert len(TEXT_BLOCKS) == 2 and len(JSON_BLOCKS) == 1


async def test_every_example_line_is_a_line_the_worker_writes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = {shape(line) for line in await made_lines(caplog)}
    shown = [line for block in TEXT_BLOCKS for line in block.splitlines() if line.strip()]
    assert len(shown) == 10
    for line in shown:
        assert shape(line) in made, (line, sorted(made))


def test_the_json_example_has_a_run_lines_fields() -> None:
    [block] = JSON_BLOCKS
    record = json.loads(block)
    assert {
        "name",
        "levelname",
        "message",
        "docket.name",
        "docket.worker",
        "docket.task",
        "docket.key",
        "docket.attempt",
        "docket.duration",
    } <= set(record)
    assert record["message"].startswith("Completed ")
