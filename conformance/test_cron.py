"""``Cron``: perpetual tasks on a cron schedule, automatic by default.

Pinned here: a worker seeds a ``Cron`` task (``automatic=True`` by default)
under its function name at the next match of its expression, Vixie keywords
(``@daily``, ``@hourly``, ...) included; ``automatic=False`` leaves seeding to
the application.  After each run the next one is scheduled at the next match
strictly after the run, in the cron's time zone; matches missed while no
worker ran are skipped, not caught up.  A week of a daily cron takes
moments on a ``VirtualClock``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from conformance.conftest import Target
from conformance.test_perpetual import follow_chain
from docket import Cron, ExecutionState, Worker

UTC = timezone.utc


def floor_to(moment: datetime, unit: timedelta) -> datetime:
    """``moment`` (UTC) rounded down to a whole ``unit`` since midnight."""
    moment = moment.astimezone(UTC)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + ((moment - midnight) // unit) * unit


def next_match(expression: str, after: datetime) -> datetime:
    """The next UTC match strictly after ``after``, computed independently of docket."""
    after = after.astimezone(UTC)
    if expression in ("@daily", "@midnight"):
        return floor_to(after, timedelta(days=1)) + timedelta(days=1)
    if expression == "@hourly":
        return floor_to(after, timedelta(hours=1)) + timedelta(hours=1)
    if expression == "*/15 * * * *":
        return floor_to(after, timedelta(minutes=15)) + timedelta(minutes=15)
    if expression == "@weekly":  # Sundays at midnight
        midnight = floor_to(after, timedelta(days=1))
        days = (6 - midnight.weekday()) % 7 or 7
        return midnight + timedelta(days=days)
    if expression == "@monthly":
        first = after.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    if expression in ("@yearly", "@annually"):
        return datetime(after.year + 1, 1, 1, tzinfo=UTC)
    raise AssertionError(f"no oracle for {expression!r}")


@pytest.mark.parametrize(
    "expression",
    [
        "@daily",
        "@midnight",
        "@hourly",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "*/15 * * * *",
    ],
)
async def test_a_worker_seeds_a_cron_task_at_its_next_match(
    target: Target, expression: str
) -> None:
    """The seeded execution is keyed by the function's name and due at the next match."""
    runs: list[datetime] = []

    async def scheduled_job(cron: Cron = Cron(expression)) -> None:
        runs.append(target.now())

    async with target.docket() as docket:
        docket.register(scheduled_job)
        before = target.now()
        async with Worker(docket):
            after = target.now()
            snapshot = await docket.snapshot()
        assert [e.key for e in snapshot.future] == ["scheduled_job"]
        assert snapshot.future[0].when in {
            next_match(expression, before),
            next_match(expression, after),
        }
        assert snapshot.future[0].state is ExecutionState.SCHEDULED
    assert runs == []


async def test_a_cron_that_is_not_automatic_is_not_seeded(target: Target) -> None:
    """``Cron(..., automatic=False)``: nothing is scheduled until the application adds it."""

    async def manual_job(cron: Cron = Cron("@hourly", automatic=False)) -> None:
        pass

    async with target.docket() as docket:
        docket.register(manual_job)
        async with Worker(docket) as worker:
            await target.wait(worker.run_until_finished())
            assert (await docket.snapshot()).total_tasks == 0


async def test_after_a_run_the_next_is_scheduled_at_the_next_match(target: Target) -> None:
    """A cron task added by hand runs now, then waits for the next match."""
    ran = asyncio.Event()

    async def report(cron: Cron = Cron("@daily", automatic=False)) -> None:
        ran.set()

    async with target.docket() as docket:
        await docket.add(report, key="report")()
        async with target.running_worker(docket):
            await target.wait(ran.wait())

            async def rescheduled() -> bool:
                execution = await docket.get_execution("report")
                return execution is not None and execution.state is ExecutionState.SCHEDULED

            await target.eventually(rescheduled, what="the next run scheduled")
            execution = await docket.get_execution("report")
            assert execution is not None
            now = target.now()
            assert execution.when in {
                next_match("@daily", now),
                next_match("@daily", now - timedelta(seconds=5)),
            }


async def test_a_daily_cron_over_a_week(target: Target) -> None:
    """Seven runs, one at each midnight, in moments on a VirtualClock."""
    if not target.virtual:
        pytest.skip("a week needs a VirtualClock; seeding and rescheduling are covered above")
    runs: list[datetime] = []

    async def nightly(cron: Cron = Cron("@daily")) -> None:
        runs.append(target.now())

    async with target.docket() as docket:
        docket.register(nightly)
        start = target.now()
        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_at_most({"nightly": 7}))
            await follow_chain(target, docket, "nightly", runner)

    first = next_match("@daily", start)
    assert runs == [first + timedelta(days=day) for day in range(7)]


async def test_a_weekday_cron_in_a_time_zone_over_a_week(target: Target) -> None:
    """``Cron("0 9 * * 1-5", tz=New York)``: five runs at 09:00 local, Monday to Friday."""
    if not target.virtual:
        pytest.skip("a week needs a VirtualClock; seeding and rescheduling are covered above")
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        new_york = zoneinfo.ZoneInfo("America/New_York")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone database on this machine")
    runs: list[datetime] = []

    async def standup(cron: Cron = Cron("0 9 * * 1-5", tz=new_york)) -> None:
        runs.append(target.now())

    async with target.docket() as docket:
        docket.register(standup)
        start = target.now()
        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_at_most({"standup": 5}))
            await follow_chain(target, docket, "standup", runner)

    local = [run.astimezone(new_york) for run in runs]
    assert len(local) == 5
    assert all((t.hour, t.minute, t.second) == (9, 0, 0) for t in local)
    assert sorted(t.weekday() for t in local) == [0, 1, 2, 3, 4]
    assert local[0] > start
    assert local[-1] - local[0] < timedelta(days=7)


async def test_missed_matches_are_skipped_not_caught_up(target: Target) -> None:
    """After five hours with no worker, an hourly cron runs once, then on the hour."""
    if not target.virtual:
        pytest.skip("hours without a worker need a VirtualClock")
    runs: list[datetime] = []

    async def hourly_rollup(cron: Cron = Cron("@hourly")) -> None:
        runs.append(target.now())

    async with target.docket() as docket:
        docket.register(hourly_rollup)
        async with Worker(docket):
            seeded = await docket.get_execution("hourly_rollup")
        assert seeded is not None and seeded.when == next_match("@hourly", target.now())

        target.clock.advance(timedelta(hours=5, minutes=30))
        async with target.running_worker(docket):
            await target.eventually(lambda: len(runs) == 1, what="the overdue run")

            async def rescheduled() -> bool:
                execution = await docket.get_execution("hourly_rollup")
                return (
                    execution is not None
                    and execution.state is ExecutionState.SCHEDULED
                    and execution.when > target.now()
                )

            await target.eventually(rescheduled, what="the next run scheduled")
            await target.settle()
            assert len(runs) == 1
            execution = await docket.get_execution("hourly_rollup")
            assert execution is not None
            assert execution.when == next_match("@hourly", target.now())
