"""Outcomes survive a Redis restart: a run is not repeated because its outcome write failed.

An outcome written while Redis restarts (or loads its AOF) fails; the worker
keeps it and writes it again for as long as the delivery's lease could still
be held, renewing the lease meanwhile.  Settlements are fenced by generation,
so a late write is safe, and work runs a second time only once a lease really
expired.  Pinned here on a real ``redis-server`` with ``appendfsync always``,
stopped and started again on the same port and data while a worker writes
outcomes, by counting the runs of every key.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from conformance.redis_server import (
    RedisUnavailable,
    answers_ping,
    find_redis_server,
    free_port,
)
from docket import Docket, Worker

pytestmark = pytest.mark.slow


class RestartableRedis:
    """A redis-server with an append-only file that can be stopped and started again."""

    def __init__(self, binary: str, directory: str) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.directory),
                *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not answers_ping(self.process, self.port):
            raise RedisUnavailable(f"{self.binary} did not start on port {self.port}")

    def kill(self) -> None:
        """Stop at once, as a crash would (the AOF keeps every acknowledged write)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def redis() -> Iterator[RestartableRedis]:
    binary = find_redis_server()
    if binary is None:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}:
            pytest.fail("CI must run the Redis tests, but there is no redis-server")
        pytest.skip("no redis-server available")
    with tempfile.TemporaryDirectory(prefix="docket-restart-") as directory:
        server = RestartableRedis(binary, directory)
        server.start()
        try:
            yield server
        finally:
            server.kill()


async def test_outcomes_written_across_a_restart_are_not_run_twice(
    redis: RestartableRedis,
) -> None:
    total = 400
    runs: Counter[int] = Counter()

    async def job(n: int) -> None:
        runs[n] += 1
        await asyncio.sleep(0.005)

    async with Docket("restarts", redis.url) as docket:
        await docket.add_many([docket.call(job, key=f"job-{n}")(n) for n in range(total)])
        async with Worker(
            docket,
            concurrency=8,
            redelivery_timeout=timedelta(seconds=6),
            reconnection_delay=timedelta(milliseconds=100),
        ) as worker:
            runner = asyncio.create_task(worker.run_until_finished())
            for restart in range(2):
                while sum(runs.values()) < (restart + 1) * total // 3:
                    await asyncio.sleep(0.01)
                redis.kill()
                await asyncio.sleep(0.5)
                redis.start()
            await asyncio.wait_for(runner, timeout=60)

    assert set(runs) == set(range(total))
    twice = {n: count for n, count in runs.items() if count > 1}
    assert twice == {}, f"keys run more than once: {twice}"


@pytest.mark.parametrize("restart_after", [0.02, 0.08, 0.15])
async def test_suspects_running_alone_across_a_restart_all_finish_once(
    redis: RestartableRedis, restart_after: float
) -> None:
    """Work reclaimed from a vanished worker runs alone, one delivery at a time,
    while Redis goes away and comes back: the worker neither spins nor stalls
    on it, and every task runs exactly once."""
    total = 6
    runs: Counter[int] = Counter()

    async def job(n: int) -> None:
        runs[n] += 1
        await asyncio.sleep(0.05)

    async with Docket("suspects", redis.url) as docket:
        docket.register(job)
        await docket.add_many([docket.call(job, key=f"job-{n}")(n) for n in range(total)])
        # A worker that claims everything and is never heard of again.
        now = docket.clock.now()
        ghost = await docket.engine.claim("ghost", total, now, now + timedelta(milliseconds=200))
        assert len(ghost.claims) == total
        await asyncio.sleep(0.3)
        async with Worker(
            docket,
            concurrency=8,
            redelivery_timeout=timedelta(seconds=2),
            reconnection_delay=timedelta(milliseconds=100),
        ) as worker:
            runner = asyncio.create_task(worker.run_until_finished())
            await asyncio.sleep(restart_after)
            redis.kill()
            await asyncio.sleep(0.5)
            redis.start()
            await asyncio.wait_for(runner, timeout=60)

    assert runs == Counter(range(total))
