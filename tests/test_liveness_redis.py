"""Liveness against a real redis-server that goes away and comes back.

A worker whose every claim fails is not healthy (so its health check fails
and it stops heartbeating); once claims reach storage again it is healthy
and listed again without waiting for a heartbeat interval.
"""

from __future__ import annotations

import asyncio
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


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_worker_failing_every_claim_is_not_healthy_until_claims_succeed() -> None:
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
    try:
        async with Docket("liveness", server.url, heartbeat_interval=timedelta(hours=1)) as docket:
            worker = Worker(docket, name="flaky", reconnection_delay=timedelta(milliseconds=100))
            async with worker:
                running = asyncio.create_task(worker.run_forever())

                async def listed() -> bool:
                    return "flaky" in {info.name for info in await docket.workers()}

                async def unhealthy() -> bool:
                    return not worker.healthy

                async def healthy() -> bool:
                    return worker.healthy

                await _eventually(listed, "listed")
                assert worker.healthy
                server.process.kill()
                server.process.wait()
                await _eventually(unhealthy, "unhealthy while every claim fails")

                restarted = subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                assert answers_ping(restarted, port)
                await _eventually(healthy, "healthy once claims succeed")
                # The fresh server knows nothing of it: listed again at once,
                # not an hour later.
                await _eventually(listed, "listed again")
                worker.stop()
                await asyncio.wait_for(running, 30)
    finally:
        if restarted is not None:
            restarted.kill()
            restarted.wait()
        server.stop()
