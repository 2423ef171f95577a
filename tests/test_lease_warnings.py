"""'Lost the lease' is said only when a lease is really lost.

A lease renewal that races the outcome write of the same delivery finds the
delivery already acknowledged; no other worker can run it, so the worker says
nothing.  A lease that expired and another worker took is a real loss, and the
worker warns that the work may run twice.  Both on the memory twin with a
``VirtualClock``, so the order of the renewal and the write is chosen, not hoped for.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from docket import ExecutionState, VirtualClock, Worker
from tests.virtual_time import START, memory_docket, settle

LEASE = timedelta(seconds=4)
WARNING = "lost the lease on delivery"


async def test_a_renewal_racing_the_outcome_write_raises_no_alarm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock(start=START)
    release = asyncio.Event()
    async with memory_docket(clock, "lease-race") as docket:

        async def held() -> str:
            await release.wait()
            return "done"

        execution = await docket.add(held)()
        engine = docket.engine
        renew = engine.renew

        async def renew_after_the_outcome(*args: Any, **kwargs: Any) -> Any:
            # The run ends and its outcome lands while the renewal is on its way.
            release.set()
            for _ in range(100):
                await settle()
                record = await engine.get_record(execution.key, clock.now())
                if record is not None and record.state is ExecutionState.COMPLETED:
                    break
            return await renew(*args, **kwargs)

        engine.renew = renew_after_the_outcome  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="docket.worker"):
            async with Worker(docket, redelivery_timeout=LEASE) as worker:
                runner = asyncio.create_task(worker.run_forever())
                await settle()
                clock.advance(LEASE / 4)  # the renewal is due
                await settle(200)
                worker.stop()
                await runner
        assert await execution.get_result() == "done"
    assert WARNING not in caplog.text


async def test_a_lease_another_worker_took_is_a_real_loss(caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock(start=START)
    release = asyncio.Event()
    async with memory_docket(clock, "lease-lost") as docket:

        async def held() -> str:
            await release.wait()
            return "done"

        await docket.add(held)()
        engine = docket.engine
        renew = engine.renew
        skip_renewals = True

        async def renew_late(*args: Any, **kwargs: Any) -> Any:
            if skip_renewals:  # as if this worker were stalled
                return set()
            return await renew(*args, **kwargs)

        engine.renew = renew_late  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="docket.worker"):
            async with Worker(docket, name="stalled", redelivery_timeout=LEASE) as stalled:
                first = asyncio.create_task(stalled.run_forever())
                await settle()
                # It stops claiming (its run goes on, its upkeep too), so it cannot
                # reclaim its own expired lease.
                stalled.stop()
                await first
                clock.advance(LEASE + timedelta(seconds=1))  # its lease expires unrenewed
                await settle()
                async with Worker(docket, name="rescuer", redelivery_timeout=LEASE) as rescuer:
                    second = asyncio.create_task(rescuer.run_forever())
                    await settle(200)  # the rescuer reclaims the expired delivery
                    skip_renewals = False
                    clock.advance(LEASE / 4)  # the stalled worker's next renewal
                    await settle(200)
                    release.set()
                    await settle(200)
                    rescuer.stop()
                    await second
    assert WARNING in caplog.text
    assert "'stalled'" in caplog.text
