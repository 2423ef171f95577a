"""Poison work: a delivery whose workers keep dying is set aside, not redelivered forever.

Pinned here: each run that started and did not finish counts as a delivery
(``test_poison_isolation.py`` pins which runs count); past
``max_deliveries`` the next worker sets the delivery aside as a dead letter
(listed by ``docket.dead_letters()`` with its key and reason) and the
execution ends FAILED, without running it again; below the bound work is
redelivered as before; a bad ``max_deliveries`` is refused.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from conformance.conftest import Target
from docket import Docket, Execution, ExecutionState, Worker

# Renewed every quarter of it: a live worker keeps its lease through any
# stall shorter than that on a loaded machine.
LEASE = timedelta(milliseconds=600)


async def _die_running(target: Target, docket: Docket, started: list[int], limit: int) -> None:
    """Run a worker until the task starts, then kill it mid-run."""
    before = len(started)

    async def work() -> None:
        async with Worker(
            docket, max_deliveries=limit, redelivery_timeout=LEASE, prefetch=0
        ) as worker:
            await worker.run_forever()

    runner = asyncio.create_task(work())
    await target.eventually(lambda: len(started) > before, what="the task ran")
    # Cancelled from outside, the worker abandons its running work unsettled,
    # as a dead worker would; the lease then runs out.
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await target.elapse(LEASE + timedelta(milliseconds=50))


async def _state_is(execution: Execution, state: ExecutionState) -> bool:
    await execution.sync()
    return execution.state is state


async def test_work_whose_workers_keep_dying_is_set_aside(target: Target) -> None:
    started: list[int] = []

    async def doomed() -> None:
        started.append(1)
        await asyncio.Event().wait()

    async with target.docket() as docket:
        execution = await docket.add(doomed, key="poison")()
        await _die_running(target, docket, started, limit=2)
        await _die_running(target, docket, started, limit=2)

        async with target.running_worker(
            docket, max_deliveries=2, redelivery_timeout=LEASE, prefetch=0
        ):
            await target.eventually(
                lambda: _state_is(execution, ExecutionState.FAILED), what="set aside"
            )

        assert len(started) == 2
        assert execution.error is not None and "delivered 3 times" in execution.error
        letters = await docket.dead_letters()
        assert [(letter.key, letter.function_name) for letter in letters] == [("poison", "doomed")]
        assert "max_deliveries=2" in letters[0].reason


async def test_below_the_bound_dying_workers_only_delay_the_work(target: Target) -> None:
    started: list[int] = []
    survive = asyncio.Event()

    async def flaky() -> None:
        started.append(1)
        if not survive.is_set():
            await asyncio.Event().wait()

    async with target.docket() as docket:
        execution = await docket.add(flaky)()
        await _die_running(target, docket, started, limit=3)
        await _die_running(target, docket, started, limit=3)
        survive.set()
        async with target.running_worker(
            docket, max_deliveries=3, redelivery_timeout=LEASE, prefetch=0
        ):
            await target.eventually(
                lambda: _state_is(execution, ExecutionState.COMPLETED), what="completed"
            )
        assert len(started) == 3
        assert await docket.dead_letters() == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
async def test_a_bad_max_deliveries_is_refused(target: Target, bad: object) -> None:
    async with target.docket() as docket:
        with pytest.raises(ValueError, match="max_deliveries"):
            Worker(docket, max_deliveries=bad)  # type: ignore[arg-type]
