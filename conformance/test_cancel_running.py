"""Cancelling work that is running: ``Docket.cancel`` reaches into the worker.

Pinned here, as pydocket has it: ``cancel(key)`` on running work interrupts the
task (``CancelledError`` inside its body, so its own cleanup runs) and records
it CANCELLED; the record says CANCELLED as soon as ``cancel`` returns, and
``get_result`` raises ``ExecutionCancelled``.  Nothing the run does afterwards
(finishing, failing, a retry, a perpetual's next run) overwrites that, and its
slot and dependencies are released for the next work.  Work that has ended is
beyond cancel's reach.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from conformance.conftest import Target, release_on_exit
from docket import (
    ConcurrencyLimit,
    ExecutionCancelled,
    ExecutionState,
    Perpetual,
    Retry,
    Worker,
)


async def test_cancel_interrupts_a_running_task_and_records_it_cancelled(target: Target) -> None:
    started = asyncio.Event()
    interrupted = asyncio.Event()
    finished_normally = asyncio.Event()

    async def long_job() -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
            finished_normally.set()
            return "finished"
        except asyncio.CancelledError:
            interrupted.set()
            raise

    async with target.docket() as docket:
        execution = await docket.add(long_job)()
        async with target.running_worker(docket):
            await target.wait(started.wait())
            await docket.cancel(execution.key)
            await execution.sync()
            assert execution.state is ExecutionState.CANCELLED
            assert execution.completed_at is not None
            await target.wait(interrupted.wait())
            with pytest.raises(ExecutionCancelled):
                await target.wait(execution.get_result())
            # The worker goes on with other work, and the key is free again.
            follow_up = await docket.add(lambda_job, key=execution.key)(7)
            assert await target.wait(follow_up.get_result()) == 14
        assert not finished_normally.is_set()


async def lambda_job(n: int) -> int:
    return n * 2


async def test_a_task_that_swallows_the_cancellation_still_ends_cancelled(
    target: Target,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def stubborn() -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await release.wait()  # goes on regardless
        return "done anyway"

    async with target.docket() as docket:
        execution = await docket.add(stubborn)()
        async with target.running_worker(docket) as worker:
            with release_on_exit(release):
                await target.wait(started.wait())
                await docket.cancel(execution.key)
                release.set()
                # The worker is still fit for work afterwards.
                other = await docket.add(lambda_job)(1)
                assert await target.wait(other.get_result()) == 2
            assert worker is not None
        await execution.sync()
        assert execution.state is ExecutionState.CANCELLED
        with pytest.raises(ExecutionCancelled):
            await target.wait(execution.get_result())


async def test_cancelling_a_running_perpetual_task_ends_its_chain(target: Target) -> None:
    runs: list[int] = []
    started = asyncio.Event()

    async def heartbeat(perpetual: Perpetual = Perpetual(every=timedelta(seconds=1))) -> None:
        runs.append(len(runs) + 1)
        started.set()
        await asyncio.sleep(3600)

    async with target.docket() as docket:
        execution = await docket.add(heartbeat, key="beat")()
        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_until_finished())
            await target.wait(started.wait())
            await docket.cancel("beat")
            await target.drive(runner)
        assert runs == [1]
        await execution.sync()
        assert execution.state is ExecutionState.CANCELLED
        assert (await docket.snapshot()).total_tasks == 0


async def test_cancelling_a_failing_run_with_retries_left_stops_the_retries(
    target: Target,
) -> None:
    attempts: list[int] = []
    started = asyncio.Event()

    async def flaky(retry: Retry = Retry(attempts=5)) -> None:
        attempts.append(retry.attempt)
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("failed while being cancelled") from None

    async with target.docket() as docket:
        execution = await docket.add(flaky)()
        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_until_finished())
            await target.wait(started.wait())
            await docket.cancel(execution.key)
            await target.drive(runner)
        assert attempts == [1]
        await execution.sync()
        assert execution.state is ExecutionState.CANCELLED


async def test_cancelling_a_running_task_gives_its_concurrency_slot_back(target: Target) -> None:
    started: list[str] = []
    first_started = asyncio.Event()

    async def exclusive(
        label: str, limit: ConcurrencyLimit = ConcurrencyLimit(max_concurrent=1)
    ) -> str:
        started.append(label)
        first_started.set()
        if label == "first":
            await asyncio.sleep(3600)
        return label

    async with target.docket() as docket:
        first = await docket.add(exclusive)("first")
        async with target.running_worker(docket, concurrency=4):
            await target.wait(first_started.wait())
            second = await docket.add(exclusive)("second")
            await docket.cancel(first.key)
            assert await target.drive(second.get_result()) == "second"
        assert started == ["first", "second"]


async def test_cancel_does_not_touch_finished_work(target: Target) -> None:
    async with target.docket() as docket:
        execution = await docket.add(lambda_job)(4)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await execution.sync()
        completed_at = execution.completed_at
        await docket.cancel(execution.key)
        await docket.cancel(execution.key)
        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED
        assert execution.completed_at == completed_at
        assert await target.wait(execution.get_result()) == 8


async def test_a_second_cancel_keeps_the_first_end(target: Target) -> None:
    started = asyncio.Event()

    async def long_job() -> None:
        started.set()
        await asyncio.sleep(3600)

    async with target.docket() as docket:
        execution = await docket.add(long_job)()
        async with target.running_worker(docket):
            await target.wait(started.wait())
            await docket.cancel(execution.key)
            await execution.sync()
            first_end = execution.completed_at
            await docket.cancel(execution.key)
            await execution.sync()
            assert execution.state is ExecutionState.CANCELLED
            assert execution.completed_at == first_end
