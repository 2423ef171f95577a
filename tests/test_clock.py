"""The clocks: VirtualClock moves only when told and wakes sleepers in deadline order."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from docket import Clock, SystemClock, VirtualClock

START = datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_both_clocks_implement_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(VirtualClock(), Clock)


def test_virtual_clock_stands_still_until_advanced() -> None:
    clock = VirtualClock(START)
    assert clock.now() == START
    assert clock.monotonic() == 0
    clock.advance(timedelta(days=30))
    assert clock.now() == START + timedelta(days=30)
    assert clock.monotonic() == 30 * 86400
    clock.advance_to(START + timedelta(days=31))
    assert clock.now() == START + timedelta(days=31)


def test_virtual_clock_default_start_is_aware_and_millisecond_aligned() -> None:
    now = VirtualClock().now()
    assert now.tzinfo is not None
    assert now.microsecond % 1000 == 0


@pytest.mark.parametrize(
    "action",
    [
        lambda c: c.advance(timedelta(seconds=-1)),
        lambda c: c.advance_to(START - timedelta(seconds=1)),
        lambda c: c.advance_to(datetime(2031, 1, 1)),  # noqa: DTZ001 - naive on purpose
    ],
    ids=["negative-delta", "backwards", "naive"],
)
def test_virtual_clock_rejects_bad_moves(action: object) -> None:
    clock = VirtualClock(START)
    with pytest.raises(ValueError):
        action(clock)  # type: ignore[operator]
    assert clock.now() == START


def test_virtual_clock_rejects_a_naive_start() -> None:
    with pytest.raises(ValueError, match="start"):
        VirtualClock(datetime(2030, 1, 1))  # noqa: DTZ001 - naive on purpose


async def test_sleepers_wake_in_deadline_order() -> None:
    clock = VirtualClock(START)
    woke: list[str] = []

    async def sleeper(label: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(label)

    tasks = [
        asyncio.create_task(sleeper("c", 30)),
        asyncio.create_task(sleeper("a", 10)),
        asyncio.create_task(sleeper("b", 20)),
        asyncio.create_task(sleeper("d", 90)),
    ]
    await asyncio.sleep(0)
    assert clock.next_deadline() == START + timedelta(seconds=10)
    clock.advance(timedelta(seconds=5))
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(timedelta(seconds=55))
    await asyncio.gather(*tasks[:3])
    assert woke == ["a", "b", "c"]
    assert not tasks[3].done()
    clock.advance_to(START + timedelta(seconds=90))
    await tasks[3]
    assert woke == ["a", "b", "c", "d"]


async def test_sleep_until_a_past_deadline_returns_at_once() -> None:
    clock = VirtualClock(START)
    await asyncio.wait_for(clock.sleep_until(START - timedelta(days=1)), 1)


async def test_cancelled_sleepers_are_forgotten() -> None:
    clock = VirtualClock(START)
    task = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.next_deadline() is None
    clock.advance(20)


async def test_system_clock_sleeps_for_real() -> None:
    clock = SystemClock()
    before = clock.monotonic()
    await clock.sleep(0.01)
    assert clock.monotonic() - before >= 0.009
    assert clock.now().tzinfo is timezone.utc


def test_a_move_listener_hears_each_move_before_sleepers_wake_and_can_be_removed() -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    clock = VirtualClock(start)
    heard: list[datetime] = []
    remove = clock.on_move(heard.append)
    clock.advance(timedelta(seconds=5))
    clock.advance_to(start + timedelta(hours=1))
    remove()
    clock.advance(1)
    assert heard == [start + timedelta(seconds=5), start + timedelta(hours=1)]


async def test_sleeping_until_wanted_repeats_until_wanted_on_a_virtual_clock() -> None:
    from docket.clock_rounds import sleeping_until_wanted

    clock = VirtualClock(START)
    asked: list[datetime] = []
    wanted_from = START + timedelta(seconds=30)

    def wanted() -> bool:
        asked.append(clock.now())
        return clock.now() >= wanted_from

    waiting = sleeping_until_wanted(clock, 10, wanted)
    assert isinstance(waiting, asyncio.Future)  # no task to wake for a moot round
    for _ in range(2):
        clock.advance(10)
        await asyncio.sleep(0)
        assert not waiting.done()
    # A jump past several periods asks once, as after a pause.
    clock.advance(25)
    await asyncio.sleep(0)
    assert waiting.done()
    assert asked == [START + timedelta(seconds=s) for s in (10, 20, 45)]


async def test_sleeping_until_wanted_rounds_are_deadlines_checked_as_time_moves() -> None:
    from docket.clock_rounds import sleeping_until_wanted

    clock = VirtualClock(START)
    asked: list[datetime] = []

    def wanted() -> bool:
        asked.append(clock.now())
        return len(asked) == 3

    later = clock.alarm(START + timedelta(seconds=25))
    waiting = sleeping_until_wanted(clock, 10, wanted)
    # Each round's end is where time skipping stops, before a later sleeper.
    assert clock.next_deadline() == START + timedelta(seconds=10)
    clock.advance(10)
    assert asked == [START + timedelta(seconds=10)]  # asked as the clock moved
    assert clock.next_deadline() == START + timedelta(seconds=20)
    clock.advance(3)
    assert clock.next_deadline() == START + timedelta(seconds=20)
    clock.advance(30)  # one round, however many periods were passed over
    assert asked == [START + timedelta(seconds=s) for s in (10, 43)]
    assert clock.next_deadline() == START + timedelta(seconds=53)
    assert later.done()
    clock.advance(10)
    await waiting
    assert clock.next_deadline() is None
    other = sleeping_until_wanted(clock, 5, wanted)
    assert clock.next_deadline() == START + timedelta(seconds=58)
    other.cancel()
    assert clock.next_deadline() is None


async def test_sleeping_until_wanted_on_the_system_clock_and_its_bad_input() -> None:
    from docket.clock_rounds import sleeping_until_wanted

    rounds: list[int] = []

    def wanted() -> bool:
        rounds.append(1)
        return len(rounds) == 2

    await sleeping_until_wanted(SystemClock(), 0.001, wanted)
    assert len(rounds) == 2
    with pytest.raises(ValueError, match="seconds must be positive, got 0"):
        sleeping_until_wanted(VirtualClock(START), 0, wanted)


async def test_sleeping_until_wanted_passes_on_what_wanted_raises() -> None:
    from docket.clock_rounds import sleeping_until_wanted

    clock = VirtualClock(START)

    def wanted() -> bool:
        raise RuntimeError("cannot tell")

    waiting = sleeping_until_wanted(clock, 1, wanted)
    clock.advance(1)
    with pytest.raises(RuntimeError, match="cannot tell"):
        await waiting


async def test_sleeping_until_wanted_without_a_deadline_is_checked_as_time_moves() -> None:
    from docket.clock_rounds import sleeping_until_wanted

    clock = VirtualClock(START)
    asked: list[datetime] = []

    def wanted() -> bool:
        asked.append(clock.now())
        return len(asked) == 2

    waiting = sleeping_until_wanted(clock, 10, wanted, a_deadline=False)
    # Nothing for time skipping to stop at: a round passed over is only done late.
    assert clock.next_deadline() is None
    clock.advance(5)
    clock.advance(30)  # one round, however many periods were passed over
    assert asked == [START + timedelta(seconds=35)]
    clock.advance(9)
    assert not waiting.done()
    clock.advance(1)
    assert asked[-1] == START + timedelta(seconds=45)
    await waiting
    clock.advance(100)  # done: no longer listening
    assert len(asked) == 2


async def test_sleeping_until_wanted_without_a_deadline_stops_listening_when_cancelled() -> None:
    from docket.clock_rounds import sleeping_until_wanted

    clock = VirtualClock(START)
    asked: list[datetime] = []
    waiting = sleeping_until_wanted(
        clock, 1, lambda: asked.append(clock.now()) or False, a_deadline=False
    )
    assert isinstance(waiting, asyncio.Future)
    waiting.cancel()
    await asyncio.sleep(0)
    clock.advance(10)
    assert asked == []


async def test_wanted_rounds_wait_again_and_again_on_one_listener() -> None:
    from docket.clock_rounds import WantedRounds

    clock = VirtualClock(START)
    asked: list[datetime] = []

    def wanted() -> bool:
        asked.append(clock.now())
        return len(asked) % 2 == 0

    rounds = WantedRounds(clock, 10, wanted)
    first = rounds.wait()
    assert clock.next_deadline() == START + timedelta(seconds=10)
    clock.advance(10)  # moot: asked again 10 s on
    clock.advance(15)
    await first
    assert asked == [START + timedelta(seconds=10), START + timedelta(seconds=25)]
    assert clock.next_deadline() is None  # between waits, nothing to stop at
    second = rounds.wait()
    assert clock.next_deadline() == START + timedelta(seconds=35)
    second.cancel()
    clock.advance(100)  # a cancelled wait: no longer listening
    assert len(asked) == 2
    assert clock.next_deadline() is None
    third = rounds.wait()  # listening again
    clock.advance(10)
    clock.advance(10)
    await third
    assert len(asked) == 4
    rounds.close()
    fourth = rounds.wait()
    rounds.close()
    clock.advance(100)
    assert not fourth.done() and len(asked) == 4
    assert clock.next_deadline() is None
    with pytest.raises(ValueError, match="seconds must be positive"):
        WantedRounds(clock, 0, wanted)
