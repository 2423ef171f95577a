"""Cron schedules: parsing, next times across daylight saving, and runs on memory://."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest

from docket import Cron, Docket, ExecutionState, Perpetual, VirtualClock, Worker
from docket.dependencies import validate_dependencies
from docket.dependencies.base import TaskOutcome
from docket.dependencies.context import current_execution
from docket.dependencies.cron import KEYWORDS
from docket.execution import Execution
from docket.worker.seeding import seed_automatic_tasks
from tests.virtual_time import drive, memory_docket

T = TypeVar("T")
UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
async def docket(clock: VirtualClock) -> AsyncIterator[Docket]:
    async with memory_docket(clock, "cron") as opened:
        yield opened


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def run_of(cron: Cron, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` times ``cron`` fires after ``after``."""
    times: list[datetime] = []
    for _ in range(count):
        after = cron.next_time(after=after)
        times.append(after)
    return times


# -- parsing ------------------------------------------------------------


def test_a_cron_is_an_automatic_perpetual_by_default() -> None:
    cron = Cron("*/5 * * * *")
    assert isinstance(cron, Perpetual)
    assert cron.automatic and cron.tz is UTC
    assert not Cron("@daily", automatic=False).automatic


@pytest.mark.parametrize("bad", ["", "every day", "61 * * * *", "* * * *", "0 0 31 2 *", "@often"])
def test_an_invalid_expression_is_refused_at_construction(bad: str) -> None:
    with pytest.raises(ValueError, match="expression"):
        Cron(bad)


def test_other_bad_inputs_are_refused() -> None:
    with pytest.raises(TypeError, match="tz"):
        Cron("@daily", tz="America/New_York")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expression"):
        Cron(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="after"):
        Cron("@daily").next_time(after=datetime(2024, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("@yearly", utc(2025, 1, 1)),
        ("@annually", utc(2025, 1, 1)),
        ("@monthly", utc(2024, 2, 1)),
        ("@weekly", utc(2024, 1, 7)),  # Sunday
        ("@daily", utc(2024, 1, 2)),
        ("@midnight", utc(2024, 1, 2)),
        ("@hourly", utc(2024, 1, 1, 13)),
        ("@DAILY", utc(2024, 1, 2)),
    ],
)
def test_vixie_keywords(keyword: str, expected: datetime) -> None:
    assert Cron(keyword).next_time(after=START) == expected
    assert keyword.lower() in KEYWORDS


def test_next_time_is_strictly_after_and_in_utc() -> None:
    cron = Cron("0 12 * * *")
    assert cron.next_time(after=START) == START + DAY  # START itself matches: not "after"
    assert cron.next_time(after=START - timedelta(microseconds=1)) == START
    paris = datetime(2024, 1, 1, 12, 30, tzinfo=ZoneInfo("Europe/Paris"))  # 11:30 UTC
    assert cron.next_time(after=paris) == START
    assert cron.next_time(after=paris).tzinfo is UTC


def test_six_fields_mean_seconds_first() -> None:
    assert Cron("30 * * * * *").next_time(after=START) == START + timedelta(seconds=30)


def test_a_cron_and_a_perpetual_cannot_share_a_task() -> None:
    async def both(a: Perpetual = Perpetual(), b: Cron = Cron("@daily")) -> None: ...

    with pytest.raises(ValueError, match="Perpetual"):
        validate_dependencies(both)


# -- daylight saving (America/New_York: 2024-03-10 02:00 -> 03:00, 2024-11-03 02:00 -> 01:00)


def test_a_fixed_time_skipped_by_spring_forward_runs_right_after_the_gap() -> None:
    cron = Cron("30 2 * * *", tz=NEW_YORK)
    # 02:30 EST, then 02:30 does not exist: cronsim runs at 03:00 EDT, then 02:30 EDT.
    assert run_of(cron, utc(2024, 3, 9, 0), 3) == [
        utc(2024, 3, 9, 7, 30),
        utc(2024, 3, 10, 7, 0),
        utc(2024, 3, 11, 6, 30),
    ]


def test_a_fixed_time_repeated_by_fall_back_runs_once() -> None:
    cron = Cron("30 1 * * *", tz=NEW_YORK)
    # 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST): only the first.
    assert run_of(cron, utc(2024, 11, 2, 12), 3) == [
        utc(2024, 11, 3, 5, 30),
        utc(2024, 11, 4, 6, 30),
        utc(2024, 11, 5, 6, 30),
    ]
    # Asked from inside the repeated hour (01:15 EST, after the 01:30 EDT run),
    # the next run is tomorrow, never the earlier first occurrence.
    assert cron.next_time(after=utc(2024, 11, 3, 6, 15)) == utc(2024, 11, 4, 6, 30)
    assert Cron("30 2 * * *", tz=NEW_YORK).next_time(after=utc(2024, 11, 3, 0)) == utc(
        2024, 11, 3, 7, 30
    )


def test_an_hourly_schedule_follows_elapsed_time_across_both_transitions() -> None:
    hourly = Cron("0 * * * *", tz=NEW_YORK)

    def local_day(year: int, month: int, day: int) -> list[datetime]:
        begin = datetime(year, month, day, tzinfo=NEW_YORK)
        end = datetime(year, month, day + 1, tzinfo=NEW_YORK)
        times, after = [], begin - timedelta(seconds=1)
        while (after := hourly.next_time(after=after)) < end:
            times.append(after)
        return times

    spring, autumn = local_day(2024, 3, 10), local_day(2024, 11, 3)
    assert len(spring) == 23 and len(autumn) == 25
    assert all(b - a == HOUR for a, b in zip(spring, spring[1:], strict=False))
    assert all(b - a == HOUR for a, b in zip(autumn, autumn[1:], strict=False))
    assert [t.astimezone(NEW_YORK).hour for t in spring[:4]] == [0, 1, 3, 4]
    assert [t.astimezone(NEW_YORK).hour for t in autumn[:4]] == [0, 1, 1, 2]


async def test_on_complete_schedules_the_next_match_after_now(
    docket: Docket, clock: VirtualClock
) -> None:
    execution = Execution(docket, None, (), {}, "k", START, function_name="task")
    current_execution.set(execution)
    run = await Cron("0 * * * *").__aenter__()
    assert isinstance(run, Cron)
    clock.advance(timedelta(minutes=59, seconds=59))
    outcome = TaskOutcome(duration=timedelta(0))
    assert await run.on_complete(execution, outcome)
    assert outcome.next_run_at == START + HOUR
    assert Cron("@hourly").first_run_at(START) == START + HOUR


# -- end to end ---------------------------------------------------------


async def test_daily_over_a_week_runs_seven_times_at_midnight(
    docket: Docket, clock: VirtualClock
) -> None:
    runs: list[datetime] = []

    async def nightly(cron: Cron = Cron("@daily")) -> None:
        runs.append(clock.now())

    docket.register(nightly)
    [seeded] = await seed_automatic_tasks(docket)
    assert (seeded.key, seeded.when) == ("nightly", utc(2024, 1, 2))
    async with Worker(docket) as worker:
        await drive(clock, worker.run_at_most({"nightly": 7}), step=HOUR)
    assert runs == [utc(2024, 1, day) for day in range(2, 9)]


async def test_a_cron_in_a_daylight_saving_zone_runs_at_local_time() -> None:
    clock = VirtualClock(utc(2024, 3, 8, 12))
    name = f"cron-{uuid.uuid4().hex[:12]}"
    runs: list[datetime] = []

    schedule = Cron("30 2 * * *", automatic=False, tz=NEW_YORK)

    async def backup(cron: Cron = schedule) -> None:
        runs.append(clock.now())

    async with Docket(name=name, url=f"memory://{name}", clock=clock) as local:
        await local.add(backup, when=schedule.first_run_at(clock.now()), key="backup-ny")()
        async with Worker(local) as worker:
            await drive(clock, worker.run_at_most({"backup-ny": 3}), step=timedelta(minutes=30))
    assert runs == [utc(2024, 3, 9, 7, 30), utc(2024, 3, 10, 7, 0), utc(2024, 3, 11, 6, 30)]


async def test_a_cron_task_can_cancel_itself(docket: Docket, clock: VirtualClock) -> None:
    runs: list[datetime] = []

    async def twice(cron: Cron = Cron("@hourly", automatic=False)) -> None:
        runs.append(clock.now())
        if len(runs) == 2:
            cron.cancel()

    await docket.add(twice, key="twice-chain")()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_until_finished(), step=timedelta(minutes=30))
    assert runs == [START, START + HOUR]
    final = await docket.get_execution("twice-chain")
    assert final is not None and final.state is ExecutionState.CANCELLED
