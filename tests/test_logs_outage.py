"""A Redis outage in the worker's log: one line when it starts, quiet retries, one when it ends.

The worker runs against a redis-server of its own, which the test kills and
starts again on the same port.  What it logs at WARNING and above is the
first failure, without a traceback; retries, with backoff, are DEBUG; the
end is one ``reconnected after 2.1s`` line at INFO.
"""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlparse

import pytest

from conformance.redis_server import (
    RedisUnavailable,
    answers_ping,
    find_redis_server,
    start_redis_server,
)
from docket import Docket, Worker
from docket.worker.event_log import ConnectionTrouble


async def nap(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_retries_back_off_up_to_the_loops_delay() -> None:
    trouble = ConnectionTrouble("w", "claim work")
    waits = [trouble.failed(ConnectionError("refused"), float(now), 2.0) for now in range(6)]
    assert waits == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    trouble.succeeded(9.5)
    # A new outage starts again from the shortest wait.
    assert trouble.failed(ConnectionError("refused"), 20.0, 2.0) == 0.25


def test_an_error_that_is_not_an_outage_is_an_error_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="docket.worker")
    try:
        raise KeyError("a bug")
    except KeyError as error:
        ConnectionTrouble("w", "claim work").failed(error, 0.0, 1.0)
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None


async def test_an_outage_is_one_line_then_quiet_then_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    try:
        server = start_redis_server()
    except RedisUnavailable as error:
        pytest.skip(str(error))
    if server.process is None:
        pytest.skip("needs a redis-server of its own to stop")
    port = urlparse(server.url).port
    assert port is not None
    binary = find_redis_server()
    assert binary is not None
    restarted: subprocess.Popen[bytes] | None = None
    caplog.set_level(logging.DEBUG, logger="docket")
    try:
        async with Docket("outage", server.url) as docket:
            docket.register(nap)
            worker = Worker(docket, name="outage-worker", reconnection_delay=timedelta(seconds=1))
            async with worker:
                running = asyncio.create_task(worker.run_forever())

                async def healthy() -> bool:
                    return worker.healthy

                async def unhealthy() -> bool:
                    return not worker.healthy

                await _eventually(healthy, "claiming")
                # A run that ends while storage is away: its outcome waits, quietly.
                await docket.add(nap, key="nap")(1.0)

                async def napping() -> bool:
                    return any("Started nap" in r.getMessage() for r in caplog.records)

                await _eventually(napping, "the nap started")
                caplog.clear()
                server.process.kill()
                server.process.wait()
                await _eventually(unhealthy, "every claim failing")
                await asyncio.sleep(2.0)  # several retries' worth, and the nap ends
                restarted = subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                assert answers_ping(restarted, port)
                await _eventually(healthy, "claiming again")
                worker.stop()
                await asyncio.wait_for(running, 30)
    finally:
        if restarted is not None:
            restarted.kill()
            restarted.wait()
        server.stop()

    worker_lines = [r for r in caplog.records if r.name == "docket.worker"]
    loud = [r for r in worker_lines if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in loud if "claim work" in r.getMessage()] == [
        loud[0].getMessage()
    ], [r.getMessage() for r in loud]
    first = loud[0]
    assert re.fullmatch(
        r"Worker 'outage-worker' cannot claim work \(\w*(Connection|Timeout)\w*: .*\); "
        r"retrying with backoff",
        first.getMessage(),
    ), first.getMessage()
    assert first.exc_info is None
    retries = [r for r in worker_lines if r.levelno == logging.DEBUG and "try " in r.getMessage()]
    assert len(retries) >= 3
    back = [r.getMessage() for r in worker_lines if "reconnected after" in r.getMessage()]
    assert len(back) == 1
    match = re.fullmatch(r"Worker 'outage-worker' reconnected after (\d+(\.\d)?)s", back[0])
    assert match, back[0]
    assert float(match.group(1)) >= 2.0
    assert any("Could not record the outcome of nap" in r.getMessage() for r in worker_lines)
    # Nothing in docket logs a traceback per retry.
    tracebacks = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.exc_info
    ]
    assert tracebacks == []
