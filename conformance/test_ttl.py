"""Records and results live for ``execution_ttl`` after the end, on the docket's clock.

Pinned here: once an execution ends (COMPLETED, FAILED or CANCELLED) its
record and result stay readable until ``execution_ttl`` has passed on the
docket's clock, and then read as absent; ``execution_ttl=0`` keeps nothing
after the end.  Live work never expires.  On a VirtualClock a long ttl
passes in no real time; on the system clock the tests use a short one.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from conformance.conftest import Target, release_on_exit
from docket import Disposition, ExecutionState, Worker


def ttl_for(target: Target) -> timedelta:
    """An hour on a VirtualClock (costs nothing), half a second on the system clock."""
    return timedelta(hours=1) if target.virtual else timedelta(seconds=0.5)


class Nope(Exception):
    """What the failing task raises."""


async def test_a_completed_record_and_result_expire_after_the_ttl(target: Target) -> None:
    """Readable just after the end, gone once the ttl has passed."""
    ttl = ttl_for(target)

    async def job() -> str:
        return "kept for a while"

    async with target.docket(execution_ttl=ttl) as docket:
        execution = await docket.add(job, key="short-lived")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

        found = await docket.get_execution("short-lived")
        assert found is not None
        assert found.state is ExecutionState.COMPLETED
        assert await target.wait(found.get_result()) == "kept for a while"
        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED

        await target.elapse(ttl + timedelta(milliseconds=100))
        assert await docket.get_execution("short-lived") is None
        # A local view keeps what it last knew once the record has expired.
        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED


async def test_a_failed_record_expires_after_the_ttl(target: Target) -> None:
    """FAILED records (and the exception kept as their result) expire the same way."""
    ttl = ttl_for(target)

    async def job() -> None:
        raise Nope("failed on purpose")

    async with target.docket(execution_ttl=ttl) as docket:
        await docket.add(job, key="failed-one")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

        found = await docket.get_execution("failed-one")
        assert found is not None
        assert found.state is ExecutionState.FAILED
        with pytest.raises(Nope):
            await target.wait(found.get_result())

        await target.elapse(ttl + timedelta(milliseconds=100))
        assert await docket.get_execution("failed-one") is None


async def test_a_cancelled_record_expires_after_the_ttl(target: Target) -> None:
    """Cancelling starts the ttl too."""
    ttl = ttl_for(target)

    async def job() -> None:
        pass

    async with target.docket(execution_ttl=ttl) as docket:
        await docket.add(job, key="cancelled-one", when=target.later(timedelta(days=1)))()
        await docket.cancel("cancelled-one")
        found = await docket.get_execution("cancelled-one")
        assert found is not None
        assert found.state is ExecutionState.CANCELLED

        await target.elapse(ttl + timedelta(milliseconds=100))
        assert await docket.get_execution("cancelled-one") is None


async def test_scheduled_work_does_not_expire(target: Target) -> None:
    """The ttl only starts at the end: future work outlives any number of ttls."""
    ttl = ttl_for(target)

    async def job() -> None:
        pass

    async with target.docket(execution_ttl=ttl) as docket:
        far = target.later(timedelta(days=30))
        await docket.add(job, key="patient", when=far)()
        await target.elapse(ttl * 2)
        found = await docket.get_execution("patient")
        assert found is not None
        assert found.state is ExecutionState.SCHEDULED
        again = await docket.add(job, key="patient")()
        assert again.disposition is Disposition.ALREADY_SCHEDULED


async def test_a_zero_ttl_keeps_nothing_after_the_end(target: Target) -> None:
    """``execution_ttl=0``: the record is gone as soon as the work ends."""
    calls: list[int] = []

    async def job(n: int) -> int:
        calls.append(n)
        return n

    async with target.docket(execution_ttl=timedelta(0)) as docket:
        execution = await docket.add(job, key="ephemeral")(1)
        found = await docket.get_execution("ephemeral")
        assert found is not None
        assert found.state is ExecutionState.QUEUED

        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert calls == [1]
        assert await docket.get_execution("ephemeral") is None

        again = await docket.add(job, key="ephemeral")(2)
        assert again.disposition is Disposition.SCHEDULED
        await docket.cancel("ephemeral")
        assert await docket.get_execution("ephemeral") is None
        assert execution.key == again.key


async def test_a_waiter_sees_the_end_even_with_a_zero_ttl(target: Target) -> None:
    """A ``get_result`` already waiting when the work ends is not left hanging by ttl=0."""
    started = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        started.set()
        await release.wait()

    async with target.docket(execution_ttl=timedelta(0)) as docket:
        execution = await docket.add(hold)()
        async with target.running_worker(docket):
            with release_on_exit(release):
                await target.wait(started.wait())
                waiter = asyncio.create_task(execution.get_result())
                await target.settle()
            await target.wait(waiter)
            assert execution.state is ExecutionState.COMPLETED
