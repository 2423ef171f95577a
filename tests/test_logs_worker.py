"""What ``docket worker`` logs: its first line, and run lines as JSON fields.

The first line names the worker, the docket, the URL with any password
masked, the concurrency and the tasks.  In ``--logging-format json`` every
run line carries the task, key and attempt, and its duration or lateness in
seconds, as fields of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from docket import Docket, Retry
from docket.cli import app
from docket.worker.event_log import log_worker_started, say_duration

runner = CliRunner()


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.0004, "0ms"),
        (0.012, "12ms"),
        (0.9996, "1s"),
        (2.0, "2s"),
        (7.24, "7.2s"),
        (59.96, "1m 0s"),
        (252.0, "4m 12s"),
        (11100.0, "3h 5m"),
        (-1.0, "0ms"),
    ],
)
def test_durations_in_words(seconds: float, said: str) -> None:
    assert say_duration(seconds) == said


def test_the_first_line_masks_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="docket.worker")
    log_worker_started(
        "w-1",
        "orders",
        "redis://:hunter2-marker@redis.internal:6379/0",
        10,
        ["send_email", "charge"],
    )
    [record] = caplog.records
    assert record.getMessage() == (
        "Starting worker 'w-1' on docket 'orders' at redis://:***@redis.internal:6379/0, "
        "concurrency 10, 2 tasks: charge, send_email"
    )
    assert "hunter2-marker" not in caplog.text


async def wobbly(retry: Retry = Retry(attempts=2, delay=timedelta(0))) -> None:
    """Fails its first attempt."""
    if retry.attempt == 1:
        raise RuntimeError("first attempt fails")


def test_json_logs_carry_the_run_fields() -> None:
    name = f"json-{uuid.uuid4().hex[:8]}"
    url = f"memory://{name}"

    async def add() -> None:
        async with Docket(name, url) as docket:
            docket.register(wobbly)
            await docket.add(wobbly, key="k-json")()

    asyncio.run(add())
    result = runner.invoke(
        app,
        [
            "worker",
            "--tasks",
            "tests.test_logs_worker:TASKS",
            "--docket",
            name,
            "--url",
            url,
            "--concurrency",
            "3",
            "--until-finished",
            "--logging-format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    records: list[dict[str, Any]] = [
        json.loads(line) for line in result.stderr.splitlines() if line.strip()
    ]
    [first] = [r for r in records if r["message"].startswith("Starting worker")]
    assert f"on docket '{name}' at {url}, concurrency 3," in first["message"]
    assert "wobbly" in first["message"]
    runs = [r for r in records if r.get("docket.key") == "k-json"]
    assert [r["message"].split()[0] for r in runs] == ["Started", "Failed", "Started", "Completed"]
    for record in runs:
        assert record["docket.task"] == "wobbly"
        assert record["docket.name"] == name
    assert [r["docket.attempt"] for r in runs] == [1, 1, 2, 2]
    started = [r for r in runs if r["message"].startswith("Started")]
    ended = [r for r in runs if not r["message"].startswith("Started")]
    assert all(isinstance(r["docket.lateness"], float) for r in started)
    assert all(isinstance(r["docket.duration"], float) for r in ended)
    assert (
        runs[1]["levelname"] == "WARNING"
        and "retrying in 0ms, attempt 2 of 2" in (runs[1]["message"])
    )
    assert "exc_info" not in runs[1] or not runs[1]["exc_info"]


TASKS = [wobbly]
