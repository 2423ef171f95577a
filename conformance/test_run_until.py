"""``Worker.run_until_idle(until=...)``: run everything due up to a moment, then stop.

On a ``VirtualClock`` the worker jumps from each idle moment straight to the
next due work, never past ``until``, and ends with the clock on ``until``;
each run sees its own due instant, and work due later is left scheduled.  On
the system clock it waits for the same work in real time.  The argument is
checked by the call that receives it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from conformance.conftest import Target
from docket import Docket, Perpetual, VirtualClock, Worker

START = datetime(2030, 3, 1, 9, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


async def test_runs_each_due_time_up_to_until_and_leaves_later_work(target: Target) -> None:
    ran: list[tuple[str, datetime]] = []
    async with target.docket() as docket:
        start = docket.clock.now()
        step = HOUR if target.virtual else timedelta(milliseconds=150)

        async def remind(who: str) -> None:
            ran.append((who, docket.clock.now()))

        await docket.add(remind, when=start + 5 * step, key="later")("later")
        await docket.add(remind, when=start + 2 * step, key="second")("second")
        await docket.add(remind, when=start + step, key="first")("first")
        await docket.add(remind, key="now")("now")
        async with Worker(docket) as worker:
            await target.wait(worker.run_until_idle(until=start + 3 * step))

        assert [who for who, _ in ran] == ["now", "first", "second"]
        assert docket.clock.now() >= start + 3 * step
        if target.virtual:
            assert [when for _, when in ran] == [start, start + step, start + 2 * step]
            assert docket.clock.now() == start + 3 * step
        else:
            # Due times are stored to the millisecond, rounded down: a run is
            # never started before its stored due time.
            def stored(due: datetime) -> datetime:
                return due - timedelta(microseconds=due.microsecond % 1000)

            assert all(when >= stored(start + i * step) for i, (_, when) in enumerate(ran))
        snapshot = await docket.snapshot()
        assert [execution.key for execution in snapshot.future] == ["later"]


async def test_work_added_by_runs_on_the_way_runs_at_its_own_instant(target: Target) -> None:
    """A chain scheduled as it goes (a Perpetual) is followed step by step."""
    ticks: list[datetime] = []
    async with target.docket() as docket:
        start = docket.clock.now()
        every = HOUR if target.virtual else timedelta(milliseconds=100)

        async def tick(perpetual: Perpetual = Perpetual(every=every)) -> None:
            ticks.append(docket.clock.now())

        await docket.add(tick, key="tick")()
        async with Worker(docket) as worker:
            await target.wait(worker.run_until_idle(until=start + 4 * every + every / 2))
        await docket.cancel("tick")

    assert len(ticks) == 5
    if target.virtual:
        assert ticks == [start + i * every for i in range(5)]


async def test_until_now_or_earlier_is_plain_run_until_idle(target: Target) -> None:
    ran: list[str] = []
    async with target.docket() as docket:
        start = docket.clock.now()

        async def remind(who: str) -> None:
            ran.append(who)

        await docket.add(remind, key="now")("now")
        await docket.add(remind, when=start + timedelta(days=1), key="tomorrow")("tomorrow")
        async with Worker(docket) as worker:
            await target.wait(worker.run_until_idle(until=start - timedelta(seconds=1)))
        assert ran == ["now"]
        if target.virtual:
            assert docket.clock.now() == start


async def test_a_virtual_clock_that_does_not_skip_still_moves_when_asked(target: Target) -> None:
    """``skip_idle_time=False`` keeps a worker from moving time by itself, not from this."""
    ran: list[datetime] = []
    clock = VirtualClock(START, skip_idle_time=False)
    async with target.docket(clock=clock) as docket:

        async def remind() -> None:
            ran.append(docket.clock.now())

        await docket.add(remind, when=START + timedelta(days=3))()
        async with Worker(docket) as worker:
            await target.wait(worker.run_until_idle(until=START + timedelta(days=7)))
    assert ran == [START + timedelta(days=3)]
    assert clock.now() == START + timedelta(days=7)


@pytest.mark.parametrize(
    ("until", "error", "message"),
    [
        (datetime(2030, 1, 1), ValueError, "until must be timezone-aware, got datetime"),  # noqa: DTZ001
        ("2030-01-01T00:00Z", TypeError, "until must be a datetime or None, got '2030-01-01"),
        (timedelta(hours=1), TypeError, "until must be a datetime or None, got datetime.timedelta"),
    ],
)
async def test_a_bad_until_is_refused_naming_it(
    target: Target, until: object, error: type[Exception], message: str
) -> None:
    docket: Docket
    async with target.docket() as docket:
        worker = Worker(docket)
        with pytest.raises(error, match=message.replace("(", r"\(").replace(".", r"\.")):
            await worker.run_until_idle(until=until)  # type: ignore[arg-type]
        assert not worker.entered
