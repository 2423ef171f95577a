"""Signal, first_of over futures and signals, and VirtualClock.alarm: the task-free waits."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from docket import SystemClock, VirtualClock
from docket.clock import sleeping, sleeping_until
from docket.engines.records import TaskMessage
from docket.racing import Signal, first_of

START = datetime(2030, 1, 1, tzinfo=timezone.utc)


async def test_a_signal_wakes_every_waiter_and_stays_set_until_cleared() -> None:
    signal = Signal()
    first, second = signal.waiter(), signal.waiter()
    assert not signal.is_set() and not first.done()
    signal.set()
    assert signal.is_set() and first.done() and second.done()
    assert signal.waiter().done()
    signal.clear()
    assert not signal.waiter().done()


async def test_waiting_on_a_set_signal_returns_without_yielding() -> None:
    signal = Signal()
    signal.set()
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    task = asyncio.ensure_future(other())
    await signal.wait()
    assert ran == []
    await task


async def test_cancelled_waiters_are_forgotten() -> None:
    signal = Signal()
    for _ in range(1000):
        signal.waiter().cancel()
    live = signal.waiter()
    assert len(signal._waiters) < 20
    signal.set()
    assert live.done()


async def test_first_of_returns_when_a_signal_is_set_and_cancels_the_rest() -> None:
    signal = Signal()
    loser: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sleeper = asyncio.ensure_future(asyncio.sleep(60))
    racing = asyncio.ensure_future(first_of(signal, loser, sleeper))
    await asyncio.sleep(0)
    assert not racing.done()
    signal.set()
    await racing
    assert loser.cancelled() and sleeper.cancelled()


async def test_first_of_raises_the_first_failure() -> None:
    failing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    failing.set_exception(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        await first_of(Signal(), failing)


async def test_cancelling_first_of_leaves_a_signal_usable() -> None:
    signal = Signal()
    racing = asyncio.ensure_future(first_of(signal))
    await asyncio.sleep(0)
    racing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await racing
    waiter = signal.waiter()
    signal.set()
    assert waiter.done()


async def test_an_alarm_completes_when_the_clock_reaches_it() -> None:
    clock = VirtualClock(START)
    alarm = clock.alarm(START + timedelta(seconds=5))
    assert clock.next_deadline() == START + timedelta(seconds=5)
    clock.advance(4)
    assert not alarm.done()
    clock.advance(1)
    assert alarm.done()
    assert clock.alarm(START).done()


async def test_a_cancelled_alarm_is_no_deadline() -> None:
    clock = VirtualClock(START)
    clock.alarm(START + timedelta(seconds=5)).cancel()
    assert clock.next_deadline() is None


async def test_an_alarm_wakes_a_time_skipper_watching_for_sleeps() -> None:
    clock = VirtualClock(START)
    started = clock.sleep_starting()
    clock.alarm(START + timedelta(seconds=1))
    assert started.done()


def test_an_alarm_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="when must be timezone-aware"):
        VirtualClock(START).alarm(datetime(2030, 1, 1))  # noqa: DTZ001


async def test_sleeping_is_an_alarm_on_a_virtual_clock_and_a_sleep_otherwise() -> None:
    clock = VirtualClock(START)
    waiting = sleeping(clock, 2)
    assert isinstance(waiting, asyncio.Future)
    clock.advance(2)
    assert waiting.done()
    await sleeping(SystemClock(), 0)


async def test_sleeping_until_a_time_already_reached_still_yields() -> None:
    clock = VirtualClock(START)
    waiting = sleeping_until(clock, START)
    assert not isinstance(waiting, asyncio.Future)
    await waiting
    later = sleeping_until(clock, START + timedelta(seconds=1))
    assert isinstance(later, asyncio.Future)
    later.cancel()


async def test_a_signal_is_an_awaitable() -> None:
    signal = Signal()
    waiting = asyncio.ensure_future(signal)
    await asyncio.sleep(0)
    assert not waiting.done()
    signal.set()
    await waiting
    await signal  # set: returns at once


async def test_the_memory_twins_waits_for_work_are_shared_and_given_up_freely() -> None:
    from docket.engines import open_engine

    engine = open_engine("memory://signal-waits", "signal-waits")
    await engine.open()
    try:
        given_up = asyncio.ensure_future(engine.wait_for_work(None))
        await asyncio.sleep(0)
        given_up.cancel()
        first = asyncio.ensure_future(engine.wait_for_work(None))
        second = asyncio.ensure_future(engine.wait_for_work(None))
        for _ in range(3):
            await asyncio.sleep(0)
        assert not first.done() and not second.done()
        await engine.schedule(
            TaskMessage("k", "f", b"", START + timedelta(days=1)), START, replace=False
        )
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        after = asyncio.ensure_future(engine.wait_for_work(None))
        for _ in range(3):
            await asyncio.sleep(0)
        assert not after.done()  # work that arrived before the wait is not news to it
        after.cancel()
    finally:
        await engine.close()


def test_a_signal_outliving_an_event_loop_still_wakes_the_waits_of_another() -> None:
    signal = Signal()
    old = asyncio.new_event_loop()
    stale = old.create_future()
    stale.add_done_callback(lambda _: None)  # scheduling it would need the closed loop
    signal.notify(stale)
    old.close()

    async def wait() -> None:
        await signal

    async def main() -> None:
        waiting = asyncio.ensure_future(wait())
        await asyncio.sleep(0)
        signal.set()
        await asyncio.wait_for(waiting, 5)

    asyncio.run(main())
