"""Perpetual tasks and automatic seeding, unit-level and end to end on memory://.

Everything runs on a VirtualClock: ``drive`` lets the worker settle, then moves
virtual time one step, until the awaited call returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest

from docket import (
    Docket,
    ExecutionCancelled,
    ExecutionState,
    Perpetual,
    Retry,
    VirtualClock,
    Worker,
)
from docket.dependencies.base import TaskOutcome
from docket.dependencies.context import current_execution
from docket.execution import Execution
from docket.states import Disposition
from docket.worker.seeding import (
    automatic_perpetual,
    has_automatic_tasks,
    reseed_forever,
    seed_automatic_tasks,
)
from tests.virtual_time import START, drive, memory_docket, settle

T = TypeVar("T")
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def clock() -> VirtualClock:
    # These tests move time by hand (``drive``) while a worker runs.
    return VirtualClock(START, skip_idle_time=False)


@pytest.fixture
async def docket(clock: VirtualClock) -> AsyncIterator[Docket]:
    async with memory_docket(clock, "perpetual") as opened:
        yield opened


def entered_for(docket: Docket, key: str, *args: Any, **kwargs: Any) -> Execution:
    """Make ``key``'s execution current, as the worker does before entering dependencies."""
    execution = Execution(docket, None, args, kwargs, key, docket.clock.now(), function_name="task")
    current_execution.set(execution)
    return execution


# -- unit level ---------------------------------------------------------


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="every"):
        Perpetual(every=timedelta(seconds=-1))
    with pytest.raises(TypeError, match="automatic"):
        Perpetual(automatic="yes")  # type: ignore[arg-type]
    perpetual = Perpetual()
    with pytest.raises(ValueError, match="when"):
        perpetual.at(datetime(2024, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="every"):
        perpetual.every = -MINUTE
    with pytest.raises(ValueError, match="delay"):
        perpetual.after(-MINUTE)
    assert Perpetual(every=30).every == timedelta(seconds=30)  # type: ignore[arg-type]


async def test_each_run_gets_its_own_copy(docket: Docket) -> None:
    declared = Perpetual(every=MINUTE)
    entered_for(docket, "a", 1)
    first = await declared.__aenter__()
    entered_for(docket, "b", 2)
    second = await declared.__aenter__()
    first.cancel()
    first.perpetuate(10)
    first.every = timedelta(hours=1)
    assert (first.args, second.args, declared.args) == ((10,), (2,), ())
    assert not second.cancelled and not declared.cancelled
    assert second.every == declared.every == MINUTE


async def test_next_run_is_every_after_the_start_of_this_one(
    docket: Docket, clock: VirtualClock
) -> None:
    execution = entered_for(docket, "k")
    run = await Perpetual(every=5 * MINUTE).__aenter__()
    outcome = TaskOutcome(duration=2 * MINUTE)
    assert await run.on_complete(execution, outcome)
    assert outcome.next_run_at == START + 3 * MINUTE
    assert outcome.next_arguments is None  # same payload as this run

    late = TaskOutcome(duration=10 * MINUTE)  # a run longer than `every`: next one at once
    await run.on_complete(execution, late)
    assert late.next_run_at == START

    run.after(timedelta(hours=1))
    clock.advance(MINUTE)  # after() is measured from when it was called
    chosen = TaskOutcome(duration=SECOND)
    await run.on_complete(execution, chosen)
    assert chosen.next_run_at == START + timedelta(hours=1)


async def test_cancel_asks_for_a_cancelled_ending_and_no_next_run(docket: Docket) -> None:
    execution = entered_for(docket, "k")
    run = await Perpetual(every=MINUTE).__aenter__()
    run.cancel()
    outcome = TaskOutcome(duration=SECOND)
    assert not await run.on_complete(execution, outcome)
    assert outcome.next_run_at is None
    assert outcome.cancelled


# -- end to end ---------------------------------------------------------


async def test_every_five_minutes_for_a_day_is_289_runs_in_moments(
    docket: Docket, clock: VirtualClock
) -> None:
    runs: list[datetime] = []

    async def tick(perpetual: Perpetual = Perpetual(every=5 * MINUTE)) -> None:
        runs.append(clock.now())

    started = time.perf_counter()
    await docket.add(tick, key="tick-chain")()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_at_most({"tick-chain": 289}), step=5 * MINUTE)
    elapsed = time.perf_counter() - started

    # A day of 5-minute slots, both ends included.
    assert runs == [START + i * 5 * MINUTE for i in range(289)]
    assert runs[-1] - runs[0] == timedelta(days=1)
    assert elapsed < 5, f"a simulated day took {elapsed:.2f}s of real time"


async def test_every_is_measured_from_the_start_of_each_run(
    docket: Docket, clock: VirtualClock
) -> None:
    starts: list[datetime] = []

    async def slow(perpetual: Perpetual = Perpetual(every=5 * MINUTE)) -> None:
        starts.append(clock.now())
        await clock.sleep(2 * 60)

    await docket.add(slow, key="slow-chain")()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_at_most({"slow-chain": 3}), step=MINUTE)
    assert starts == [START, START + 5 * MINUTE, START + 10 * MINUTE]


async def test_perpetuate_changes_the_next_runs_arguments(
    docket: Docket, clock: VirtualClock
) -> None:
    seen: list[tuple[int, str]] = []

    async def count(
        n: int, label: str = "x", perpetual: Perpetual = Perpetual(every=SECOND)
    ) -> None:
        seen.append((n, label))
        perpetual.perpetuate(n + 1, label=f"run{n + 1}")

    await docket.add(count, key="count-chain")(0)
    async with Worker(docket) as worker:
        await drive(clock, worker.run_at_most({"count-chain": 4}), step=SECOND)
    assert seen == [(0, "x"), (1, "run1"), (2, "run2"), (3, "run3")]


async def test_after_at_and_every_choose_the_next_run(docket: Docket, clock: VirtualClock) -> None:
    starts: list[datetime] = []

    async def planner(perpetual: Perpetual = Perpetual(every=MINUTE)) -> None:
        starts.append(clock.now())
        if len(starts) == 1:
            perpetual.after(timedelta(minutes=10))
        elif len(starts) == 2:
            perpetual.at(datetime(2024, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))))
        elif len(starts) == 3:
            perpetual.every = timedelta(minutes=3)

    await docket.add(planner, key="planner-chain")()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_at_most({"planner-chain": 5}), step=MINUTE)
    # 13:00+01:00 is 12:00 UTC, already past: the third run is due at once.
    assert starts == [
        START,
        START + 10 * MINUTE,
        START + 10 * MINUTE,
        START + 13 * MINUTE,  # every changed to 3 minutes for one run
        START + 14 * MINUTE,  # and back to the declared minute after it
    ]


async def test_a_self_cancelled_perpetual_ends_cancelled_and_stops(
    docket: Docket, clock: VirtualClock
) -> None:
    seen: list[int] = []

    async def countdown(n: int = 3, perpetual: Perpetual = Perpetual(every=SECOND)) -> None:
        seen.append(n)
        if n == 0:
            perpetual.cancel()
        else:
            perpetual.perpetuate(n - 1)

    first = await docket.add(countdown, key="countdown-chain")()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_until_finished(), step=SECOND)
    assert seen == [3, 2, 1, 0]
    final = await docket.get_execution("countdown-chain")
    assert final is not None and final.state is ExecutionState.CANCELLED  # not COMPLETED
    with pytest.raises(ExecutionCancelled):
        await first.get_result()
    assert (await docket.snapshot()).total_tasks == 0


async def test_a_perpetual_keeps_going_after_a_final_failure(
    docket: Docket, clock: VirtualClock
) -> None:
    calls: list[datetime] = []

    async def fragile(perpetual: Perpetual = Perpetual(every=MINUTE)) -> None:
        calls.append(clock.now())
        if len(calls) == 1:
            raise RuntimeError("first run fails")

    await docket.add(fragile, key="fragile-chain")()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_at_most({"fragile-chain": 3}), step=MINUTE)
    assert calls == [START, START + MINUTE, START + 2 * MINUTE]


@pytest.mark.parametrize("perpetual_first", [True, False])
async def test_retry_goes_before_perpetual(
    docket: Docket, clock: VirtualClock, perpetual_first: bool
) -> None:
    attempts: list[tuple[datetime, int]] = []

    async def body(retry: Retry) -> None:
        attempts.append((clock.now(), retry.attempt))
        raise RuntimeError("always")

    if perpetual_first:

        async def job(
            perpetual: Perpetual = Perpetual(every=MINUTE),
            retry: Retry = Retry(attempts=2, delay=10 * SECOND),
        ) -> None:
            await body(retry)

    else:

        async def job(  # type: ignore[misc]
            retry: Retry = Retry(attempts=2, delay=10 * SECOND),
            perpetual: Perpetual = Perpetual(every=MINUTE),
        ) -> None:
            await body(retry)

    await docket.add(job, key="job-chain")()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_at_most({"job-chain": 4}), step=10 * SECOND)
    # The retry comes first; after the final failure the chain continues a
    # minute after the failed attempt started, at attempt 1 again.
    assert attempts == [
        (START, 1),
        (START + 10 * SECOND, 2),
        (START + 70 * SECOND, 1),
        (START + 80 * SECOND, 2),
    ]


async def test_run_at_most_counts_each_run_once_when_key_and_task_name_match(
    docket: Docket, clock: VirtualClock
) -> None:
    """``run_at_most({"tick": n})`` bounds the usual ``add(tick, key="tick")`` chain at n runs."""
    runs: list[datetime] = []

    async def tick(perpetual: Perpetual = Perpetual(every=MINUTE)) -> None:
        runs.append(clock.now())

    await docket.add(tick, key="tick")()
    async with Worker(docket) as worker:
        await drive(clock, worker.run_at_most({"tick": 4}), step=MINUTE)
    assert runs == [START + i * MINUTE for i in range(4)]


# -- automatic seeding --------------------------------------------------


async def test_automatic_tasks_are_seeded_once_per_function(
    docket: Docket, clock: VirtualClock
) -> None:
    async def heartbeat(perpetual: Perpetual = Perpetual(every=MINUTE, automatic=True)) -> None: ...

    async def manual(perpetual: Perpetual = Perpetual(every=MINUTE)) -> None: ...

    async def plain() -> None: ...

    docket.register(heartbeat)
    docket.register(heartbeat, names=["pulse"])
    docket.register(manual)
    docket.register(plain)

    seeded = await seed_automatic_tasks(docket)
    assert [(e.key, e.function_name, e.when, e.disposition) for e in seeded] == [
        ("heartbeat", "heartbeat", START, Disposition.SCHEDULED)
    ]
    again = await seed_automatic_tasks(docket)
    assert [e.disposition for e in again] == [Disposition.ALREADY_SCHEDULED]
    assert (await docket.snapshot()).total_tasks == 1


async def test_whether_a_docket_has_automatic_tasks_follows_what_is_registered(
    docket: Docket,
) -> None:
    async def sweep(perpetual: Perpetual = Perpetual(every=MINUTE, automatic=True)) -> None: ...

    async def manual(perpetual: Perpetual = Perpetual(every=MINUTE)) -> None: ...

    docket.register(manual)
    assert not has_automatic_tasks(docket)
    assert not has_automatic_tasks(docket)  # asked again, answered the same
    docket.register(sweep)
    assert has_automatic_tasks(docket)
    docket.register(manual, names=["sweep"])  # the name now runs a manual task
    assert not has_automatic_tasks(docket)


async def test_an_aliased_automatic_task_is_seeded_under_its_own_name_as_key(
    docket: Docket,
) -> None:
    async def refresh(perpetual: Perpetual = Perpetual(automatic=True)) -> None: ...

    docket.register(refresh, names=["refresh-cache"])
    [execution] = await seed_automatic_tasks(docket)
    assert (execution.key, execution.function_name) == ("refresh", "refresh-cache")
    assert "refresh" not in docket.tasks  # seeding registered no new name


async def test_an_automatic_task_that_needs_arguments_is_skipped_loudly(
    docket: Docket, caplog: pytest.LogCaptureFixture
) -> None:
    async def needy(customer: int, perpetual: Perpetual = Perpetual(automatic=True)) -> None: ...

    async def fine(perpetual: Perpetual = Perpetual(automatic=True)) -> None: ...

    with pytest.raises(ValueError, match="must not require arguments.*customer"):
        automatic_perpetual(needy)
    docket.register(needy)
    docket.register(fine)
    with caplog.at_level(logging.ERROR, logger="docket.automatic"):
        seeded = await seed_automatic_tasks(docket)
    assert [e.key for e in seeded] == ["fine"]
    assert "needy" in caplog.text and "customer" in caplog.text


async def test_seeded_automatic_task_runs_as_a_chain(docket: Docket, clock: VirtualClock) -> None:
    runs: list[datetime] = []

    async def sweep(perpetual: Perpetual = Perpetual(every=MINUTE, automatic=True)) -> None:
        runs.append(clock.now())

    docket.register(sweep)
    await seed_automatic_tasks(docket)
    async with Worker(docket) as worker:
        await drive(clock, worker.run_at_most({"sweep": 3}), step=MINUTE)
    assert runs == [START, START + MINUTE, START + 2 * MINUTE]


async def test_reseeding_heals_a_cancelled_chain(docket: Docket, clock: VirtualClock) -> None:
    async def sweep(
        perpetual: Perpetual = Perpetual(every=timedelta(hours=1), automatic=True),
    ) -> None: ...

    docket.register(sweep)
    reseeder = asyncio.create_task(reseed_forever(docket, interval=MINUTE))
    try:
        await settle()
        seeded = await docket.get_execution("sweep")
        assert seeded is not None and seeded.state.is_live

        await docket.cancel("sweep")  # the chain is broken...
        broken = await docket.get_execution("sweep")
        assert broken is not None and broken.state is ExecutionState.CANCELLED

        clock.advance(MINUTE)  # ...until the next reseed
        await settle()
        healed = await docket.get_execution("sweep")
        assert healed is not None and healed.state.is_live
        assert healed.generation > seeded.generation
    finally:
        reseeder.cancel()
        await asyncio.gather(reseeder, return_exceptions=True)


async def test_reseeding_logs_errors_and_carries_on(
    docket: Docket,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rounds: list[datetime] = []

    async def flaky_seed(_: Docket) -> list[Execution]:
        rounds.append(clock.now())
        raise ConnectionError("storage is down")

    async def beat(perpetual: Perpetual = Perpetual(every=MINUTE, automatic=True)) -> None: ...

    docket.register(beat)
    monkeypatch.setattr("docket.worker.seeding.seed_automatic_tasks", flaky_seed)
    with pytest.raises(ValueError, match="interval"):
        await reseed_forever(docket, interval=timedelta(0))
    with caplog.at_level(logging.ERROR, logger="docket.automatic"):
        reseeder = asyncio.create_task(reseed_forever(docket, interval=MINUTE, delay_first=True))
        await settle()
        assert rounds == []
        for _ in range(2):
            clock.advance(MINUTE)
            await settle()
        reseeder.cancel()
        await asyncio.gather(reseeder, return_exceptions=True)
    assert rounds == [START + MINUTE, START + 2 * MINUTE]
    assert "storage is down" in caplog.text


async def test_reseeding_skips_rounds_until_an_automatic_task_is_registered(
    docket: Docket, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds: list[datetime] = []

    async def counting_seed(_: Docket) -> list[Execution]:
        rounds.append(clock.now())
        return []

    async def beat(perpetual: Perpetual = Perpetual(every=MINUTE, automatic=True)) -> None: ...

    monkeypatch.setattr("docket.worker.seeding.seed_automatic_tasks", counting_seed)
    reseeder = asyncio.create_task(reseed_forever(docket, interval=MINUTE, delay_first=True))
    try:
        for _ in range(3):
            clock.advance(MINUTE)
            await settle()
        assert rounds == []
        docket.register(beat)
        clock.advance(MINUTE)
        await settle()
        assert rounds == [START + 4 * MINUTE]
    finally:
        reseeder.cancel()
        await asyncio.gather(reseeder, return_exceptions=True)


# -- needs the worker wiring (schedule_automatic_tasks) -----------------


async def test_a_worker_seeds_automatic_tasks_itself(docket: Docket, clock: VirtualClock) -> None:
    runs: list[datetime] = []

    async def sweep(perpetual: Perpetual = Perpetual(every=MINUTE, automatic=True)) -> None:
        runs.append(clock.now())

    docket.register(sweep)
    async with Worker(docket) as worker:
        await drive(clock, worker.run_at_most({"sweep": 2}), step=MINUTE)
    assert runs == [START, START + MINUTE]


async def test_a_worker_told_not_to_seeds_nothing(docket: Docket, clock: VirtualClock) -> None:
    async def sweep(perpetual: Perpetual = Perpetual(every=MINUTE, automatic=True)) -> None: ...

    docket.register(sweep)
    async with Worker(docket, schedule_automatic_tasks=False) as worker:
        await drive(clock, worker.run_until_finished(), step=MINUTE)
        clock.advance(timedelta(minutes=5))
        await settle()
    assert await docket.get_execution("sweep") is None
