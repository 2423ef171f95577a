"""``Perpetual``: tasks that schedule their own next run under the same key.

Pinned here: after every run, on success and on final failure (a ``Retry``
goes first), the key is scheduled again ``every`` after the run started, with
the same arguments unless ``perpetuate(...)`` gave new ones, or at the time
``after()``/``at()`` chose; only one execution of the key is ever pending.
``cancel()`` ends the chain and records the run CANCELLED.  Automatic
perpetual tasks are seeded by every worker at start, under the function's
name, unless ``Worker(schedule_automatic_tasks=False)``; a chain broken by a
cancel heals at the next reseed (every 60 s on the docket clock) or when a
worker starts.  ``run_at_most({key_or_name: n})`` stops a chain exactly at n
runs.  Every five minutes for a day takes moments on a ``VirtualClock``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from conformance.conftest import GUARD_SECONDS, Target
from docket import (
    CurrentExecution,
    Disposition,
    Docket,
    Execution,
    ExecutionState,
    Perpetual,
    Retry,
    Worker,
)

MS = timedelta(milliseconds=1)
"""Stored times are kept to the millisecond."""


class Boom(Exception):
    """The error failing runs raise."""


async def follow_chain(
    target: Target, docket: Docket, key: str, runner: asyncio.Task[None]
) -> None:
    """On a VirtualClock, jump to each next run of ``key`` once the last has settled.

    Ends when ``runner`` (a ``run_at_most`` bounding the chain) ends.  This
    moves time exactly to each due time, so long chains take few real steps.
    """
    assert target.virtual
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD_SECONDS
    while not runner.done():
        if loop.time() > deadline:
            runner.cancel()
            pytest.fail(f"[{target.id}] chain {key!r} still running after {GUARD_SECONDS}s (real)")
        execution = await docket.get_execution(key)
        if (
            execution is not None
            and execution.state is ExecutionState.SCHEDULED
            and execution.when > target.now()
        ):
            target.clock.advance_to(execution.when)
        await asyncio.wait({runner}, timeout=0.002)
    await runner


async def test_a_perpetual_task_reschedules_itself_under_its_key(target: Target) -> None:
    """Each run is followed by the next, same key, due ``every`` after the run started."""
    every = timedelta(seconds=0.1)
    runs: list[tuple[str, datetime, int]] = []

    async def poll(
        feed: str,
        perpetual: Perpetual = Perpetual(every=every),
        execution: Execution = CurrentExecution(),
    ) -> None:
        runs.append((execution.key, execution.when, execution.attempt))

    async with target.docket() as docket:
        await docket.add(poll, key="poller")("news")
        async with Worker(docket) as worker:
            await target.drive(worker.run_at_most({"poller": 4}), step=every / 2)

        assert [key for key, _, _ in runs] == ["poller"] * 4
        assert [attempt for _, _, attempt in runs] == [1] * 4
        whens = [when for _, when, _ in runs]
        for earlier, later in zip(whens, whens[1:], strict=False):
            assert later - earlier >= every - MS
        assert (await docket.snapshot()).total_tasks == 0


async def test_run_at_most_stops_a_perpetual_chain_exactly_at_its_bound(target: Target) -> None:
    """n runs happen, no more; the next delivery is CANCELLED and nothing is left."""
    calls: list[int] = []

    async def heartbeat(perpetual: Perpetual = Perpetual(every=timedelta(seconds=0.05))) -> None:
        calls.append(len(calls) + 1)

    async with target.docket() as docket:
        await docket.add(heartbeat, key="beat")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_at_most({"beat": 5}), step=0.025)
        assert calls == [1, 2, 3, 4, 5]
        final = await docket.get_execution("beat")
        assert final is not None and final.state is ExecutionState.CANCELLED
        assert (await docket.snapshot()).total_tasks == 0

        # Bounding by task name works the same way.
        calls.clear()
        await docket.add(heartbeat, key="beat-by-name")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_at_most({"heartbeat": 3}), step=0.025)
        assert calls == [1, 2, 3]
        assert (await docket.snapshot()).total_tasks == 0


async def test_every_five_minutes_for_a_day(target: Target) -> None:
    """289 runs (both ends of the day) exactly five minutes apart, in moments."""
    if not target.virtual:
        pytest.skip("a day of runs needs a VirtualClock; the short chains above cover this")
    every = timedelta(minutes=5)
    runs: list[datetime] = []

    async def sweep(perpetual: Perpetual = Perpetual(every=every)) -> None:
        runs.append(target.now())

    async with target.docket() as docket:
        start = target.now()
        await docket.add(sweep, key="sweeper")()
        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_at_most({"sweeper": 289}))
            await follow_chain(target, docket, "sweeper", runner)

    assert len(runs) == 289
    assert runs == [start + i * every for i in range(289)]
    assert runs[-1] - runs[0] == timedelta(days=1)


async def test_every_is_measured_from_the_start_of_each_run(target: Target) -> None:
    """A run that takes a while does not push the schedule back."""
    if not target.virtual:
        pytest.skip("exact start times need a VirtualClock; the chains above bound them")
    every = timedelta(minutes=5)
    starts: list[datetime] = []

    async def slow(perpetual: Perpetual = Perpetual(every=every)) -> None:
        starts.append(target.now())
        await target.clock.sleep(120)

    async with target.docket() as docket:
        start = target.now()
        await docket.add(slow, key="slow")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_at_most({"slow": 3}), step=timedelta(minutes=1))
    assert starts[0] == start
    for earlier, later in zip(starts, starts[1:], strict=False):
        assert later - earlier == every


async def test_only_one_execution_of_the_key_is_ever_pending(target: Target) -> None:
    """Between runs exactly one future execution exists; adding the key again is a no-op."""
    every = timedelta(hours=1)
    ran = asyncio.Event()

    async def hourly(perpetual: Perpetual = Perpetual(every=every)) -> None:
        ran.set()

    async with target.docket() as docket:
        await docket.add(hourly, key="hourly")()
        async with target.running_worker(docket):
            await target.wait(ran.wait())

            async def rescheduled() -> bool:
                execution = await docket.get_execution("hourly")
                return execution is not None and execution.state is ExecutionState.SCHEDULED

            await target.eventually(rescheduled, what="the next run scheduled")
            snapshot = await docket.snapshot()
            assert [e.key for e in snapshot.future] == ["hourly"]
            assert snapshot.future[0].when >= target.now() + every - timedelta(seconds=5)
            again = await docket.add(hourly, key="hourly")()
            assert again.disposition is Disposition.ALREADY_SCHEDULED
            assert (await docket.snapshot()).total_tasks == 1


async def test_perpetuate_gives_the_next_run_new_arguments(target: Target) -> None:
    """``perpetuate(*args, **kwargs)`` replaces the arguments of the next run only."""
    seen: list[tuple[int, str]] = []

    async def page_through(
        cursor: int,
        label: str = "first",
        perpetual: Perpetual = Perpetual(every=timedelta(seconds=0.05)),
    ) -> None:
        seen.append((cursor, label))
        if cursor < 2:
            perpetual.perpetuate(cursor + 1, label=f"page-{cursor + 1}")

    async with target.docket() as docket:
        await docket.add(page_through, key="pages")(0)
        async with Worker(docket) as worker:
            await target.drive(worker.run_at_most({"pages": 5}), step=0.025)
    # Once perpetuate() stops being called, the last run's arguments carry on.
    assert seen == [(0, "first"), (1, "page-1"), (2, "page-2"), (2, "page-2"), (2, "page-2")]


async def test_after_and_at_choose_the_next_run(target: Target) -> None:
    """``after(delay)`` and ``at(when)`` override ``every`` for one run."""
    whens: list[datetime] = []
    requested: list[datetime] = []

    async def planner(
        perpetual: Perpetual = Perpetual(every=timedelta(hours=1)),
        execution: Execution = CurrentExecution(),
    ) -> None:
        whens.append(execution.when)
        if len(whens) == 1:
            requested.append(target.later(0.1))
            perpetual.after(timedelta(seconds=0.1))
        elif len(whens) == 2:
            requested.append(target.later(0.2))
            perpetual.at(requested[-1])
        else:
            perpetual.cancel()

    async with target.docket() as docket:
        await docket.add(planner, key="planner")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.05)
        assert len(whens) == 3
        # The third run followed at() rather than the hour-long every.
        assert requested[1] - MS <= whens[2] <= requested[1]
        assert whens[1] >= requested[0] - timedelta(milliseconds=50)
        assert whens[1] - whens[0] < timedelta(minutes=1)


async def test_cancel_ends_the_chain_cancelled(target: Target) -> None:
    """``cancel()`` inside a run: that run is recorded CANCELLED and none follows."""
    seen: list[int] = []

    async def countdown(
        n: int, perpetual: Perpetual = Perpetual(every=timedelta(seconds=0.05))
    ) -> None:
        seen.append(n)
        if n == 0:
            perpetual.cancel()
        else:
            perpetual.perpetuate(n - 1)

    async with target.docket() as docket:
        first = await docket.add(countdown, key="countdown")(3)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.025)
        assert seen == [3, 2, 1, 0]
        final = await docket.get_execution("countdown")
        assert final is not None and final.state is ExecutionState.CANCELLED
        await first.sync()
        assert first.state is ExecutionState.CANCELLED
        assert (await docket.snapshot()).total_tasks == 0
        # The key is free again after the chain ended.
        again = await docket.add(countdown, key="countdown")(0)
        assert again.disposition is Disposition.SCHEDULED


async def test_a_chain_goes_on_after_a_final_failure(target: Target) -> None:
    """A run that fails (no retries left) still schedules the next."""
    outcomes: list[str] = []

    async def fragile(perpetual: Perpetual = Perpetual(every=timedelta(seconds=0.05))) -> None:
        if len(outcomes) == 0:
            outcomes.append("fail")
            raise Boom("first run fails")
        outcomes.append("ok")

    async with target.docket() as docket:
        await docket.add(fragile, key="fragile")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_at_most({"fragile": 3}), step=0.025)
    assert outcomes == ["fail", "ok", "ok"]


async def test_retry_goes_before_perpetual(target: Target) -> None:
    """With a Retry, a failure is retried first; the chain continues after it at attempt 1."""
    attempts: list[int] = []

    async def guarded(
        retry: Retry = Retry(attempts=2, delay=timedelta(seconds=0.05)),
        perpetual: Perpetual = Perpetual(every=timedelta(seconds=0.05)),
    ) -> None:
        attempts.append(retry.attempt)
        if retry.attempt == 1 and len(attempts) == 1:
            raise Boom("retry me")

    async with target.docket() as docket:
        await docket.add(guarded, key="guarded")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_at_most({"guarded": 4}), step=0.025)
    assert attempts == [1, 2, 1, 1]


# -- automatic perpetual tasks ------------------------------------------------------


async def test_automatic_perpetual_tasks_are_seeded_by_a_worker(target: Target) -> None:
    """``Perpetual(automatic=True)``: the worker schedules it at start, keyed by its name."""
    runs: list[str] = []

    async def housekeeping(
        perpetual: Perpetual = Perpetual(every=timedelta(seconds=0.05), automatic=True),
        execution: Execution = CurrentExecution(),
    ) -> None:
        runs.append(execution.key)

    async with target.docket() as docket:
        docket.register(housekeeping)
        assert (await docket.snapshot()).total_tasks == 0
        async with Worker(docket) as worker:
            await target.drive(worker.run_at_most({"housekeeping": 3}), step=0.025)
    assert runs == ["housekeeping"] * 3


async def test_a_worker_can_be_told_not_to_seed_automatic_tasks(target: Target) -> None:
    """``Worker(schedule_automatic_tasks=False)`` leaves automatic tasks alone."""
    runs: list[str] = []

    async def housekeeping(
        perpetual: Perpetual = Perpetual(every=timedelta(seconds=0.05), automatic=True),
    ) -> None:
        runs.append("ran")

    async with target.docket() as docket:
        docket.register(housekeeping)
        async with Worker(docket, schedule_automatic_tasks=False) as worker:
            await target.wait(worker.run_until_finished())
            assert (await docket.snapshot()).total_tasks == 0
    assert runs == []


async def test_seeding_an_already_seeded_task_is_a_no_op(target: Target) -> None:
    """Two workers starting together seed the task once."""

    async def housekeeping(
        perpetual: Perpetual = Perpetual(every=timedelta(hours=1), automatic=True),
    ) -> None:
        pass

    async with target.docket() as first, target.docket() as second:
        first.register(housekeeping)
        second.register(housekeeping)
        async with Worker(first, name="w1", concurrency=1), Worker(second, name="w2"):
            snapshot = await first.snapshot()
            assert [e.key for e in snapshot.future + snapshot.running] == ["housekeeping"]


async def test_a_cancelled_automatic_chain_comes_back_when_a_worker_starts(
    target: Target,
) -> None:
    """Cancelling an automatic task only pauses it: the next worker seeds it again."""
    runs: list[datetime] = []

    async def nightly_report(
        perpetual: Perpetual = Perpetual(every=timedelta(hours=1), automatic=True),
    ) -> None:
        runs.append(target.now())

    async with target.docket() as docket:
        docket.register(nightly_report)
        async with target.running_worker(docket):
            await target.eventually(lambda: len(runs) == 1, what="the seeded run")

            async def rescheduled() -> bool:
                execution = await docket.get_execution("nightly_report")
                return execution is not None and execution.state is ExecutionState.SCHEDULED

            await target.eventually(rescheduled, what="the next run scheduled")
            await docket.cancel("nightly_report")
            assert (await docket.snapshot()).total_tasks == 0

        async with target.running_worker(docket):
            await target.eventually(lambda: len(runs) == 2, what="the reseeded run")
        assert runs[1] - runs[0] < timedelta(hours=1)


async def test_a_broken_automatic_chain_heals_within_a_minute(target: Target) -> None:
    """A running worker reseeds automatic tasks every 60 s on the docket clock."""
    if not target.virtual:
        pytest.skip("the 60 s reseed needs a VirtualClock; the worker-start reseed covers it")
    runs: list[datetime] = []

    async def sync_catalog(
        perpetual: Perpetual = Perpetual(every=timedelta(hours=6), automatic=True),
    ) -> None:
        runs.append(target.now())

    async with target.docket() as docket:
        docket.register(sync_catalog)
        async with target.running_worker(docket):
            await target.eventually(lambda: len(runs) == 1, what="the seeded run")

            async def rescheduled() -> bool:
                execution = await docket.get_execution("sync_catalog")
                return execution is not None and execution.state is ExecutionState.SCHEDULED

            await target.eventually(rescheduled, what="the next run scheduled")
            await docket.cancel("sync_catalog")
            broken_at = target.now()
            for _ in range(13):  # 65 s in 5 s steps
                await target.elapse(timedelta(seconds=5))
            await target.eventually(lambda: len(runs) == 2, what="the healed chain's run")
        assert broken_at < runs[1] <= broken_at + timedelta(seconds=65)
