"""``Timeout``: a per-attempt limit on a task's run, kept on the docket's clock.

Pinned here: a run that outlasts its ``Timeout(base)`` is cancelled (its body
sees the cancellation) and ends FAILED with a ``TimeoutError`` naming the key,
which ``get_result()`` re-raises; a run inside its limit completes normally.
The deadline is on the docket's clock, so on a ``VirtualClock`` it passes only
when virtual time does, and hour-long limits take moments.  ``remaining()``
tells how much time is left and ``extend(by=None)`` pushes the deadline back
(by ``base`` by default) while the body runs.  Each attempt has its own
deadline, and ``Retry`` retries a timed-out attempt like any failure.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from conformance.conftest import Target
from docket import (
    CurrentDocket,
    Docket,
    ExecutionState,
    Retry,
    Timeout,
    Worker,
)

EPSILON = timedelta(milliseconds=5)
"""Slack for a real sleep that wakes a hair early by the loop's clock resolution."""

SCALES = [
    pytest.param(timedelta(seconds=0.1), id="short"),
    pytest.param(timedelta(minutes=20), id="long"),
]
"""One time unit: real-clock friendly, and one only a VirtualClock makes quick."""

LONG_TTL = timedelta(days=30)
"""Records outlive any virtual jump here, so reading an outcome never races its expiry."""

LONG_LEASE = timedelta(days=1)
"""A lease no virtual jump here outlasts: a long-running body is never redelivered
because the clock leapt past its lease between renewals."""


def skip_long_on_system_clock(target: Target, unit: timedelta) -> None:
    if unit > timedelta(seconds=0.5) and not target.virtual:
        pytest.skip("long limits are only quick on a VirtualClock; 'short' covers this")


@pytest.mark.parametrize("unit", SCALES)
async def test_a_run_past_its_timeout_is_cancelled_and_fails_with_timeout_error(
    target: Target, unit: timedelta
) -> None:
    """The body is cancelled at the deadline; the execution ends FAILED with TimeoutError."""
    skip_long_on_system_clock(target, unit)
    events: list[str] = []

    async def stuck(
        docket: Docket = CurrentDocket(),
        timeout: Timeout = Timeout(3 * unit),
    ) -> str:
        events.append("started")
        try:
            await docket.clock.sleep((10 * unit).total_seconds())
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("finished")
        return "too late"

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(stuck, key="stuck-key")()
        async with Worker(docket, redelivery_timeout=LONG_LEASE) as worker:
            await target.drive(worker.run_until_finished(), step=unit / 2)

        assert events == ["started", "cancelled"]
        await execution.sync()
        assert execution.state is ExecutionState.FAILED
        assert execution.error is not None
        assert execution.error.startswith("TimeoutError")
        assert "stuck-key" in execution.error
        assert execution.completed_at is not None and execution.started_at is not None
        assert execution.completed_at - execution.started_at >= 3 * unit - EPSILON
        with pytest.raises(TimeoutError):
            await target.wait(execution.get_result())


@pytest.mark.parametrize("unit", SCALES)
async def test_a_run_inside_its_timeout_completes(target: Target, unit: timedelta) -> None:
    """A body that finishes before the deadline returns its value as usual."""
    skip_long_on_system_clock(target, unit)

    async def quick(
        docket: Docket = CurrentDocket(),
        timeout: Timeout = Timeout(5 * unit),
    ) -> str:
        await docket.clock.sleep(unit.total_seconds())
        return "in time"

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(quick)()
        async with Worker(docket, redelivery_timeout=LONG_LEASE) as worker:
            await target.drive(worker.run_until_finished(), step=unit / 2)
        assert await target.wait(execution.get_result()) == "in time"
        assert execution.state is ExecutionState.COMPLETED


async def test_a_timeout_is_kept_on_the_docket_clock(target: Target) -> None:
    """On a VirtualClock real time does not expire a run; virtual time does."""
    if not target.virtual:
        pytest.skip("on the system clock real and docket time are one; the tests above cover it")
    started = asyncio.Event()
    never = asyncio.Event()

    async def hangs(timeout: Timeout = Timeout(timedelta(hours=1))) -> None:
        started.set()
        await never.wait()

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(hangs)()
        async with target.running_worker(docket, redelivery_timeout=LONG_LEASE):
            await target.wait(started.wait())
            await asyncio.sleep(0.2)  # real time: must not count
            await execution.sync()
            assert execution.state is ExecutionState.RUNNING

            await target.elapse(timedelta(minutes=59))
            await execution.sync()
            assert execution.state is ExecutionState.RUNNING

            await target.elapse(timedelta(minutes=1))
            with pytest.raises(TimeoutError):
                await target.wait(execution.get_result())
        assert execution.state is ExecutionState.FAILED


async def test_remaining_counts_down_and_extend_pushes_the_deadline(target: Target) -> None:
    """``remaining()`` starts at ``base``, shrinks as docket time passes and grows by
    what ``extend(by)`` adds."""
    base = timedelta(seconds=0.3)
    readings: dict[str, timedelta] = {}

    async def measured(
        docket: Docket = CurrentDocket(),
        timeout: Timeout = Timeout(base),
    ) -> None:
        readings["start"] = timeout.remaining()
        await docket.clock.sleep(0.1)
        readings["after sleep"] = timeout.remaining()
        timeout.extend(by=timedelta(hours=1))
        readings["after extend"] = timeout.remaining()

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(measured)()
        async with Worker(docket, redelivery_timeout=LONG_LEASE) as worker:
            await target.drive(worker.run_until_finished(), step=0.05)
        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED

    assert timedelta(0) < readings["start"] <= base
    assert readings["after sleep"] <= readings["start"] - timedelta(seconds=0.1) + EPSILON
    assert readings["after extend"] > readings["after sleep"] + timedelta(minutes=59)
    if target.virtual:
        assert readings["start"] == base
        assert readings["after sleep"] == base - timedelta(seconds=0.1)
        assert readings["after extend"] == readings["after sleep"] + timedelta(hours=1)


@pytest.mark.parametrize("unit", SCALES)
async def test_extend_keeps_a_long_run_alive(target: Target, unit: timedelta) -> None:
    """``extend()`` (by ``base``) after each step lets a run go on past ``base`` in all."""
    skip_long_on_system_clock(target, unit)
    steps: list[int] = []

    async def crawl(
        docket: Docket = CurrentDocket(),
        timeout: Timeout = Timeout(2 * unit),
    ) -> int:
        for page in range(4):
            await docket.clock.sleep(unit.total_seconds())
            steps.append(page)
            timeout.extend()
        return len(steps)

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(crawl)()
        async with Worker(docket, redelivery_timeout=LONG_LEASE) as worker:
            await target.drive(worker.run_until_finished(), step=unit / 2)
        # Four units of work under a two-unit limit: only extend() made it possible.
        assert await target.wait(execution.get_result()) == 4


async def test_extend_by_a_given_amount(target: Target) -> None:
    """``extend(by=...)`` moves the deadline by that much, not by ``base``."""
    unit = timedelta(seconds=0.1)

    async def slow_start(
        docket: Docket = CurrentDocket(),
        timeout: Timeout = Timeout(unit),
    ) -> str:
        timeout.extend(by=4 * unit)
        await docket.clock.sleep((2 * unit).total_seconds())
        return "extended"

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(slow_start)()
        async with Worker(docket, redelivery_timeout=LONG_LEASE) as worker:
            await target.drive(worker.run_until_finished(), step=unit / 2)
        assert await target.wait(execution.get_result()) == "extended"


async def test_each_attempt_gets_a_fresh_deadline_and_retry_retries_a_timeout(
    target: Target,
) -> None:
    """A timed-out attempt is retried by ``Retry``; the retry starts with the whole limit."""
    base = timedelta(seconds=0.2)
    at_start: list[tuple[int, timedelta]] = []

    async def sometimes_stuck(
        docket: Docket = CurrentDocket(),
        retry: Retry = Retry(attempts=2),
        timeout: Timeout = Timeout(base),
    ) -> int:
        at_start.append((retry.attempt, timeout.remaining()))
        if retry.attempt == 1:
            await docket.clock.sleep(60)
        return retry.attempt

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(sometimes_stuck)()
        async with Worker(docket, redelivery_timeout=LONG_LEASE) as worker:
            await target.drive(worker.run_until_finished(), step=0.05)

        assert [attempt for attempt, _ in at_start] == [1, 2]
        assert await target.wait(execution.get_result()) == 2
        assert execution.attempt == 2
    for _, remaining in at_start:
        assert base / 2 < remaining <= base
        if target.virtual:
            assert remaining == base


async def test_a_timeout_on_every_attempt_ends_failed_after_the_last(target: Target) -> None:
    """When every attempt times out, the last TimeoutError is the outcome."""
    attempts: list[int] = []

    async def always_stuck(
        docket: Docket = CurrentDocket(),
        retry: Retry = Retry(attempts=3),
        timeout: Timeout = Timeout(timedelta(seconds=0.1)),
    ) -> None:
        attempts.append(retry.attempt)
        await docket.clock.sleep(60)

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(always_stuck)()
        async with Worker(docket, redelivery_timeout=LONG_LEASE) as worker:
            await target.drive(worker.run_until_finished(), step=0.05)
        assert attempts == [1, 2, 3]
        await execution.sync()
        assert execution.state is ExecutionState.FAILED
        assert execution.error is not None and execution.error.startswith("TimeoutError")
        with pytest.raises(TimeoutError):
            await target.wait(execution.get_result())
