"""Timeout: per-attempt limits on the docket's clock, extend(), and retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TypeVar

import pytest

from docket import Docket, ExecutionState, Retry, Timeout, VirtualClock, Worker
from docket.dependencies.context import current_execution
from docket.execution import Execution
from tests.virtual_time import START, drive, memory_docket, settle

T = TypeVar("T")
SECOND = timedelta(seconds=1)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
async def docket(clock: VirtualClock) -> AsyncIterator[Docket]:
    async with memory_docket(clock, "timeout") as opened:
        yield opened


async def entered(docket: Docket, declared: Timeout, key: str = "k") -> tuple[Timeout, Execution]:
    execution = Execution(docket, None, (), {}, key, docket.clock.now(), function_name="task")
    current_execution.set(execution)
    run = await declared.__aenter__()
    assert isinstance(run, Timeout)
    return run, execution


# -- unit level ---------------------------------------------------------


def test_base_must_be_a_positive_duration() -> None:
    for bad in (timedelta(0), timedelta(seconds=-1)):
        with pytest.raises(ValueError, match="base"):
            Timeout(bad)
    with pytest.raises(TypeError, match="base"):
        Timeout("5s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="by"):
        Timeout(SECOND).extend(timedelta(seconds=-1))


async def test_advancing_the_clock_past_the_deadline_expires_it_and_extend_pushes_it(
    docket: Docket, clock: VirtualClock
) -> None:
    run, execution = await entered(docket, Timeout(timedelta(seconds=5)))
    cancelled = asyncio.Event()

    async def body() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    racing = asyncio.create_task(run.run(execution, body, (), {}))
    await settle()
    assert run.remaining() == timedelta(seconds=5)
    clock.advance(4)
    await settle()
    assert run.remaining() == timedelta(seconds=1) and not run.expired()
    run.extend()  # by base: the deadline moves from 5s to 10s
    clock.advance(4)
    await settle()
    assert not racing.done()
    assert run.remaining() == timedelta(seconds=2)
    clock.advance(2)
    await settle()
    assert racing.done() and cancelled.is_set() and run.expired()
    assert run.remaining() == timedelta(0)
    with pytest.raises(TimeoutError, match=r"^Docket task k exceeded timeout of 10.0s$"):
        racing.result()


async def test_a_body_that_finishes_in_time_returns_its_value_or_raises_its_error(
    docket: Docket,
) -> None:
    run, execution = await entered(docket, Timeout(SECOND))

    async def add(a: int, b: int = 0) -> int:
        return a + b

    assert await run.run(execution, add, (1,), {"b": 2}) == 3

    async def broken() -> None:
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await run.run(execution, broken, (), {})


async def test_an_external_cancellation_stays_a_cancellation(docket: Docket) -> None:
    run, execution = await entered(docket, Timeout(SECOND))
    body_cancelled = asyncio.Event()

    async def body() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            body_cancelled.set()

    racing = asyncio.create_task(run.run(execution, body, (), {}))
    await settle()
    racing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await racing
    assert body_cancelled.is_set()


async def test_each_run_has_its_own_deadline(docket: Docket, clock: VirtualClock) -> None:
    declared = Timeout(timedelta(seconds=5))
    first, _ = await entered(docket, declared, "a")
    clock.advance(1)
    second, _ = await entered(docket, declared, "b")
    first.start()
    first.extend(timedelta(seconds=30))
    second.start()
    clock.advance(2)
    assert first.remaining() == timedelta(seconds=33)
    assert second.remaining() == timedelta(seconds=3)
    assert declared.remaining() == timedelta(seconds=5)


# -- end to end ---------------------------------------------------------


async def test_a_task_past_its_timeout_fails_with_timeout_error(
    docket: Docket, clock: VirtualClock
) -> None:
    stopped: list[datetime] = []

    async def slow(timeout: Timeout = Timeout(timedelta(seconds=5))) -> None:
        try:
            await clock.sleep(60)
        finally:
            stopped.append(clock.now())

    execution = await docket.add(slow, key="slow")()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_until_finished(), step=SECOND)
    assert stopped == [START + timedelta(seconds=5)]
    await execution.sync()
    assert execution.state is ExecutionState.FAILED
    assert execution.error == "TimeoutError: Docket task slow exceeded timeout of 5.0s"
    with pytest.raises(TimeoutError, match="exceeded timeout"):
        await execution.get_result()


async def test_a_task_within_its_timeout_completes(docket: Docket, clock: VirtualClock) -> None:
    async def quick(timeout: Timeout = Timeout(timedelta(seconds=5))) -> str:
        await clock.sleep(4)
        return "done"

    execution = await docket.add(quick)()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_until_finished(), step=SECOND)
    assert await execution.get_result() == "done"


async def test_timeout_with_retry_retries_each_attempt_afresh(
    docket: Docket, clock: VirtualClock
) -> None:
    attempts: list[tuple[datetime, int]] = []

    async def sometimes_slow(
        retry: Retry = Retry(attempts=3, delay=SECOND),
        timeout: Timeout = Timeout(timedelta(seconds=5)),
    ) -> int:
        attempts.append((clock.now(), retry.attempt))
        # The first two attempts hang; each gets a fresh 5 seconds.
        await clock.sleep(60 if retry.attempt < 3 else 4)
        return retry.attempt

    execution = await docket.add(sometimes_slow)()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_until_finished(), step=SECOND)
    assert await execution.get_result() == 3
    assert attempts == [
        (START, 1),
        (START + timedelta(seconds=6), 2),
        (START + timedelta(seconds=12), 3),
    ]


async def test_extend_keeps_a_long_task_alive(docket: Docket, clock: VirtualClock) -> None:
    seen: list[timedelta] = []

    async def crawl(pages: int, timeout: Timeout = Timeout(timedelta(seconds=5))) -> int:
        for _ in range(pages):
            seen.append(timeout.remaining())
            await clock.sleep(4)
            timeout.extend()
        return pages

    execution = await docket.add(crawl)(3)  # 12 seconds in all, never 5 without extending
    async with Worker(docket) as worker:
        await drive(clock, worker.run_until_finished(), step=SECOND)
    assert await execution.get_result() == 3
    assert seen == [timedelta(seconds=s) for s in (5, 6, 7)]
