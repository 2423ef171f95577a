"""pydocket's spellings of options and environment variables, as real processes on real Redis.

A deployment written for pydocket 0.27.2 (its ``DOCKET_*`` variables, its
duration forms, ``DOCKET_REDIS_URL`` for ``watch``, positional strike
arguments) runs unchanged; no password it carries reaches the output.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cli_support.harness import docket_cli
from cli_support.helpers import boom, hold, report

from docket import Docket
from docket.states import Disposition


@dataclass
class Target:
    name: str
    url: str

    def add(self, function: Any, *args: Any) -> str:
        async def add() -> str:
            async with Docket(self.name, self.url) as docket:
                return (await docket.add(function)(*args)).key

        return asyncio.run(add())


async def mystery_task(value: int) -> None:
    """Known to the producer only: the worker runs its fallback for it."""


@pytest.fixture
def target(redis_server_url: str) -> Target:
    return Target(f"cli-pd-{uuid.uuid4().hex[:10]}", redis_server_url)


def test_a_pydocket_worker_environment(target: Target) -> None:
    """Every worker setting from pydocket's variable names, durations in its forms."""
    target.add(report)
    target.add(mystery_task, 1)
    result = docket_cli(
        "worker",
        "--until-finished",
        env={
            "DOCKET_URL": target.url,
            "DOCKET_NAME": target.name,
            "DOCKET_TASKS": "cli_support.helpers:settings_tasks",
            "DOCKET_WORKER_NAME": "pydocket-style",
            "DOCKET_WORKER_CONCURRENCY": "4",
            "DOCKET_WORKER_MESSAGE_BATCH": "2",
            "DOCKET_WORKER_REDELIVERY_TIMEOUT": "5m",
            "DOCKET_WORKER_RECONNECTION_DELAY": "00:03",
            "DOCKET_WORKER_MINIMUM_CHECK_INTERVAL": "1",
            "DOCKET_WORKER_SCHEDULING_RESOLUTION": "0:00:01",
            "DOCKET_WORKER_SCHEDULE_AUTOMATIC_TASKS": "true",
            "DOCKET_WORKER_ENABLE_INTERNAL_INSTRUMENTATION": "true",
            "DOCKET_FALLBACK_TASK": "cli_support.helpers:fallback",
            "DOCKET_WORKER_DEPENDENCIES": "cli_support.helpers:dependencies",
            "DOCKET_LOGGING_LEVEL": "INFO",
            "DOCKET_LOGGING_FORMAT": "json",
        },
    )
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("settings ")]
    settings = json.loads(line.removeprefix("settings "))
    assert settings == {
        **settings,
        "docket": target.name,
        "name": "pydocket-style",
        "concurrency": 4,
        "message_batch": 2,
        "redelivery_timeout": 300.0,
        "reconnection_delay": 3.0,
        "minimum_check_interval": 1.0,
        "scheduling_resolution": 1.0,
        "worker_instrumentation": True,
        "docket_instrumentation": True,
        "fallback_task": "fallback",
        "dependencies": ["0"],
    }
    assert "fallback ran with (1,) {}" in result.stdout
    assert result.stdout.count("dependency entered") == 2  # around the fallback too
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert any(r["message"].startswith("Starting worker 'pydocket-style'") for r in records)


def test_watch_reads_docket_redis_url(target: Target) -> None:
    key = target.add(boom, "from pydocket's variable")
    worker = docket_cli(
        "worker",
        "--tasks",
        "cli_support.helpers:tasks",
        "--until-finished",
        env={"DOCKET_URL": target.url, "DOCKET_NAME": target.name},
    )
    assert worker.returncode == 0, worker.stderr
    watched = docket_cli("watch", key, "-d", target.name, env={"DOCKET_REDIS_URL": target.url})
    assert watched.returncode == 1, watched.stderr
    assert "error=RuntimeError: from pydocket's variable" in watched.stdout


def test_pydocket_strike_arguments(target: Target) -> None:
    args = ("--docket", target.name, "--url", target.url)
    struck = docket_cli("strike", "", "release", "==", "str:x", *args)
    assert struck.returncode == 0, struck.stderr

    async def add() -> Disposition:
        async with Docket(target.name, target.url) as docket:
            return (await docket.add(hold)("x")).disposition

    assert asyncio.run(add()) is Disposition.STRUCK
    restored = docket_cli("restore", "*", "release", "==", "str:x", *args)
    assert restored.returncode == 0, restored.stderr
    assert asyncio.run(add()) is Disposition.SCHEDULED


def test_pydocket_task_arguments(target: Target) -> None:
    args = ("--docket", target.name, "--url", target.url)
    slept = docket_cli("tasks", "sleep", "1e-3", "--delay", "1:00", *args)
    assert slept.returncode == 0, slept.stderr
    assert "Added sleep(0.001)" in slept.stdout

    async def due() -> timedelta:
        async with Docket(target.name, target.url) as docket:
            (execution,) = (await docket.snapshot()).future
            return execution.when - docket.clock.now()

    assert timedelta(seconds=50) < asyncio.run(due()) <= timedelta(seconds=60)


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["worker", "--url", "redis://:hunter22@127.0.0.1:1/0"], {}),
        (["worker", "--until-finished"], {"DOCKET_URL": "redis://u:hunter22@127.0.0.1:1/0"}),
        (["watch", "k"], {"DOCKET_REDIS_URL": "redis://:hunter22@127.0.0.1:1/0"}),
        (["snapshot", "--url", "redis+sentinel://:hunter22@127.0.0.1:1"], {}),
        (["strike", "job", "--url", "rediss://:hunter22@127.0.0.1:1/0"], {}),
    ],
)
def test_no_password_in_the_output(args: list[str], env: dict[str, str]) -> None:
    result = docket_cli(*args, env=env)
    assert result.returncode != 0
    assert "hunter22" not in result.stdout + result.stderr
    assert "***" in result.stderr
    assert "Traceback" not in result.stderr
