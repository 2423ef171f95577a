"""Liveness: a worker is listed only while its claim loop is healthy.

Pinned here: ``Worker.healthy`` is True only while a run method is going and
its last claim reached storage; a worker entered but not running is neither
healthy nor listed by ``docket.workers()``/``snapshot()``; once running it is
listed at once (its first heartbeat does not wait an interval); once its run
method returns it is retired at once, though still entered.  (Claims that
fail while storage is away are pinned against a real redis-server in
``tests/test_liveness_redis.py``.)
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from conformance.conftest import Target
from docket import Docket, Worker


async def _listed(docket: Docket, name: str) -> bool:
    return name in {worker.name for worker in await docket.workers()}


async def test_a_worker_is_listed_only_while_its_claim_loop_runs(target: Target) -> None:
    async def job() -> None:
        pass

    # A heartbeat interval longer than the test: any listing is the one sent
    # when the claim loop became healthy, and any removal the retirement.
    async with target.docket(heartbeat_interval=timedelta(hours=1)) as docket:
        docket.register(job)
        async with Worker(docket, name="live") as worker:
            await target.settle()
            assert not worker.healthy
            assert not await _listed(docket, "live")
            snapshot = await docket.snapshot()
            assert "live" not in {info.name for info in snapshot.workers}

            running = asyncio.create_task(worker.run_forever())
            await target.eventually(lambda: _listed(docket, "live"), what="listed at once")
            assert worker.healthy
            snapshot = await docket.snapshot()
            assert "live" in {info.name for info in snapshot.workers}

            worker.stop()
            await target.wait(running)
            assert not worker.healthy

            async def retired() -> bool:
                return not await _listed(docket, "live")

            await target.eventually(retired, what="retired at once")
            worker.resume()
            await target.drive(worker.run_until_finished())
            assert not worker.healthy
            await target.eventually(retired, what="retired again")
