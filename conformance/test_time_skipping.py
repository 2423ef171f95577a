"""Time that skips itself: a worker on a ``VirtualClock`` moves it when it would only wait.

On every target, with a docket of its own on a ``VirtualClock`` (the
target's own clock is driven by hand elsewhere in the suite):
``run_until_finished`` finishes work due days ahead, retries with delays and
bounded perpetual chains in virtual time, each run at its due instant; a task
that sleeps on the docket clock is woken in virtual time under
``run_until_finished``, ``run_due`` and ``advance``, with its lease renewed
on the way so it runs once; work that would never end raises ``RunsForever``
naming it; and ``skip_idle_time=False`` leaves time alone.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import pytest

from conformance.conftest import Target
from docket import Docket, Perpetual, Retry, RunsForever, Timeout, VirtualClock, Worker
from docket.clock import DEFAULT_SKIP_LIMIT
from docket_testing import advance, run_due

START = datetime(2030, 3, 1, 9, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def skipping_docket(
    target: Target, *, skip_idle_time: bool = True, skip_limit: timedelta = DEFAULT_SKIP_LIMIT
) -> Docket:
    """A docket of this target's engine on a VirtualClock of its own, starting at START."""
    clock = VirtualClock(START, skip_idle_time=skip_idle_time, skip_limit=skip_limit)
    docket: Docket = target.docket(clock=clock)
    return docket


async def test_run_until_finished_runs_work_due_days_ahead_at_its_due_times(
    target: Target,
) -> None:
    ran: list[tuple[str, datetime]] = []
    async with skipping_docket(target) as docket:

        async def remind(who: str) -> None:
            ran.append((who, docket.clock.now()))

        await docket.add(remind, when=START + timedelta(days=30), key="late")("late")
        await docket.add(remind, when=START + timedelta(days=2), key="soon")("soon")
        await docket.add(remind, key="now")("now")
        async with Worker(docket) as worker:
            await worker.run_until_finished()
        assert ran == [
            ("now", START),
            ("soon", START + timedelta(days=2)),
            ("late", START + timedelta(days=30)),
        ]
        assert docket.clock.now() == START + timedelta(days=30)


async def test_retries_with_delays_and_a_bounded_perpetual_finish_in_virtual_time(
    target: Target,
) -> None:
    attempts: list[datetime] = []
    ticks: list[datetime] = []
    async with skipping_docket(target) as docket:

        async def flaky(retry: Retry = Retry(attempts=3, delay=timedelta(minutes=10))) -> None:
            attempts.append(docket.clock.now())
            if len(attempts) < 3:
                raise RuntimeError("not yet")

        async def hourly(perpetual: Perpetual = Perpetual(every=HOUR)) -> None:
            ticks.append(docket.clock.now())
            if len(ticks) == 5:
                perpetual.cancel()

        await docket.add(flaky, key="flaky")()
        await docket.add(hourly, key="hourly")()
        async with Worker(docket) as worker:
            await worker.run_until_finished()
    assert attempts == [START, START + timedelta(minutes=10), START + timedelta(minutes=20)]
    assert ticks == [START + i * HOUR for i in range(5)]


async def test_a_task_sleeping_on_the_docket_clock_wakes_in_virtual_time_and_runs_once(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """An hour's sleep under a five-minute lease: the renewals on the way keep it one run."""
    woke: list[datetime] = []
    async with skipping_docket(target) as docket:

        async def nap() -> None:
            await docket.clock.sleep(HOUR.total_seconds())
            woke.append(docket.clock.now())

        await docket.add(nap, key="nap")()
        with caplog.at_level(logging.WARNING, logger="docket.worker"):
            async with Worker(docket, redelivery_timeout=timedelta(minutes=5)) as worker:
                await worker.run_until_finished()
    assert woke == [START + HOUR]
    assert not [r for r in caplog.records if "lease" in r.getMessage()]


async def test_sleeping_tasks_wake_under_run_due_and_advance(target: Target) -> None:
    woke: list[tuple[str, datetime]] = []
    async with skipping_docket(target) as docket:

        async def nap(name: str, seconds: float) -> None:
            await docket.clock.sleep(seconds)
            woke.append((name, docket.clock.now()))

        await docket.add(nap, key="short")("short", 30)
        await docket.add(nap, key="long")("long", 90)
        await run_due(docket, worker=Worker(docket, concurrency=2))
        assert sorted(woke) == [
            ("long", START + timedelta(seconds=90)),
            ("short", START + timedelta(seconds=30)),
        ]

        woke.clear()
        later = docket.clock.now() + timedelta(minutes=5)
        await docket.add(nap, when=later, key="after")("after", 60)
        await advance(docket, timedelta(minutes=10))
        assert woke == [("after", later + timedelta(seconds=60))]


async def test_work_that_never_ends_raises_runs_forever_naming_it(target: Target) -> None:
    async with skipping_docket(target, skip_limit=timedelta(days=1)) as docket:

        async def heartbeat_forever(perpetual: Perpetual = Perpetual(every=HOUR)) -> None:
            pass

        await docket.add(heartbeat_forever, key="forever")()
        async with Worker(docket) as worker:
            with pytest.raises(RunsForever, match="heartbeat_forever") as raised:
                await worker.run_until_finished()
        assert "skip_limit" in str(raised.value)
        assert docket.clock.now() <= START + timedelta(days=1)
        await docket.cancel("forever")


async def test_with_skipping_off_time_moves_only_when_told(target: Target) -> None:
    ran: list[datetime] = []
    async with skipping_docket(target, skip_idle_time=False) as docket:

        async def later() -> None:
            ran.append(docket.clock.now())

        await docket.add(later, when=START + HOUR, key="later")()
        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_until_finished())
            await target.settle()
            assert (ran, docket.clock.now()) == ([], START)
            assert isinstance(docket.clock, VirtualClock)
            docket.clock.advance(HOUR)
            await asyncio.wait_for(runner, timeout=30)
    assert ran == [START + HOUR]


def test_bad_clock_options_name_the_parameter_and_value() -> None:
    with pytest.raises(ValueError, match=r"skip_limit.*days=-1"):
        VirtualClock(START, skip_limit=timedelta(days=-1))
    with pytest.raises(TypeError, match=r"skip_idle_time.*'yes'"):
        VirtualClock(START, skip_idle_time="yes")  # type: ignore[arg-type]


async def test_a_run_under_a_timeout_sleeping_on_the_clock_is_skipped_through(
    target: Target,
) -> None:
    """``Timeout`` races the body in a child task; the run still counts as asleep."""
    finished: list[datetime] = []
    async with skipping_docket(target) as docket:

        async def patient(timeout: Timeout = Timeout(timedelta(seconds=10))) -> str:
            await docket.clock.sleep(8)
            finished.append(docket.clock.now())
            return "done"

        async def stuck(timeout: Timeout = Timeout(timedelta(seconds=10))) -> None:
            await docket.clock.sleep(60)

        done = await docket.add(patient)()
        late = await docket.add(stuck)()
        async with Worker(docket) as worker:
            await target.wait(worker.run_until_finished())
        assert finished == [START + timedelta(seconds=8)]
        assert await done.get_result() == "done"
        with pytest.raises(TimeoutError):
            await late.get_result()
        assert docket.clock.now() == START + timedelta(seconds=10)
