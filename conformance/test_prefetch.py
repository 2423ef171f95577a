"""Prefetch: a worker may hold claimed deliveries beyond its free slots.

Pinned here: with ``prefetch`` a worker still never runs more than
``concurrency`` tasks at once; the deliveries it holds are leased to it and
show as running with it; held deliveries run in due order; what a worker
holds goes back to the queue, never started, when it stops or when it has
held it for ``scheduling_resolution``; by default a worker prefetches up to
``concurrency`` while its runs are short, and stops once they are long; a bad
``prefetch`` is refused.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from datetime import timedelta

import pytest

from conformance.conftest import Target, release_on_exit
from docket import CurrentWorker, Docket, Execution, ExecutionState, Worker


async def test_prefetch_never_runs_more_than_concurrency(target: Target) -> None:
    concurrency, prefetch, total = 2, 3, 9
    running = peak = 0
    release = asyncio.Event()

    async def hold() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await release.wait()
        finally:
            running -= 1

    async with target.docket() as docket:
        executions = [await docket.add(hold)() for _ in range(total)]
        async with Worker(docket, concurrency=concurrency, prefetch=prefetch) as worker:
            runner = asyncio.create_task(worker.run_until_finished())
            with release_on_exit(release):
                await target.eventually(lambda: running >= concurrency, what="slots full")
                snapshot = await target.wait(docket.snapshot())
                # Held deliveries are leased to this worker, so they show as running.
                await target.eventually(
                    lambda: running == concurrency, what="no more than concurrency running"
                )
                assert concurrency <= len(snapshot.running) <= concurrency + prefetch
                assert all(e.worker == worker.name for e in snapshot.running)
                assert len(snapshot.future) == total - len(snapshot.running)
            await target.drive(runner)

        assert peak == concurrency
        for execution in executions:
            await execution.sync()
            assert execution.state is ExecutionState.COMPLETED


async def test_held_deliveries_run_in_due_order(target: Target) -> None:
    order: list[int] = []

    async def record(n: int) -> None:
        order.append(n)

    async with target.docket() as docket:
        for n in range(8):
            await docket.add(record, when=target.now())(n)
        async with Worker(docket, concurrency=1, prefetch=4) as worker:
            await target.drive(worker.run_until_finished())

    assert order == list(range(8))


async def test_stopping_hands_back_the_deliveries_the_worker_holds(target: Target) -> None:
    release = asyncio.Event()
    started = asyncio.Event()
    finished: list[int] = []

    async def hold(n: int) -> None:
        started.set()
        await release.wait()
        finished.append(n)

    async with target.docket() as docket:
        executions = [await docket.add(hold)(n) for n in range(3)]
        with release_on_exit(release):
            async with Worker(docket, concurrency=1, prefetch=2) as worker:
                runner = asyncio.create_task(worker.run_forever())
                await target.wait(started.wait())
                # One running and two held: all three are leased to this worker.
                for _ in range(200):
                    snapshot = await target.wait(docket.snapshot())
                    if len(snapshot.running) == 3:
                        break
                    await target.settle()
                assert len(snapshot.running) == 3
                assert not snapshot.future
                worker.stop()
                await target.wait(runner)
                release.set()
        # Stopping finished the run in progress and handed the held work back,
        # never started, for any worker to take.
        assert finished == [0]
        for execution in executions[1:]:
            await execution.sync()
            assert execution.state is ExecutionState.QUEUED
            assert execution.worker is None and execution.started_at is None
        async with Worker(docket, prefetch=0) as other:
            await target.drive(other.run_until_finished())
        assert sorted(finished) == [0, 1, 2]
        for execution in executions:
            await execution.sync()
            assert execution.state is ExecutionState.COMPLETED


async def test_work_held_past_the_scheduling_resolution_goes_to_an_idle_worker(
    target: Target,
) -> None:
    release = asyncio.Event()
    ran_by: dict[int, str] = {}

    async def hold(n: int, worker: Worker = CurrentWorker()) -> None:
        ran_by[n] = worker.name
        if n == 0:
            await release.wait()

    async with target.docket() as docket:
        await docket.add(hold, key="long")(0)
        waiting = await docket.add(hold, key="short")(1)
        # Long enough that a loaded machine cannot hand the work back before
        # the first check below sees it held.
        resolution = timedelta(milliseconds=500)
        with release_on_exit(release):
            async with target.running_worker(
                docket, name="busy", concurrency=1, prefetch=1, scheduling_resolution=resolution
            ):
                await target.eventually(lambda: 0 in ran_by, what="the long run started")
                await waiting.sync()
                assert (waiting.state, waiting.worker) == (ExecutionState.RUNNING, "busy")
                # Held for longer than the scheduling resolution, it goes back...
                await target.elapse(resolution * 2)
                await target.eventually(
                    lambda: _state_is(waiting, ExecutionState.QUEUED), what="handed back"
                )
                # ...and the busy worker does not take it again while its slot is taken.
                await target.settle()
                assert await _state_is(waiting, ExecutionState.QUEUED)
                async with target.running_worker(docket, name="idle", prefetch=0):
                    await target.eventually(lambda: 1 in ran_by, what="the idle worker ran it")
                    assert ran_by[1] == "idle"
                release.set()
    assert ran_by == {0: "busy", 1: "idle"}


async def test_the_default_worker_prefetches_only_while_runs_are_short(target: Target) -> None:
    release = asyncio.Event()
    # Long enough that nothing held is handed back before the checks below
    # see it, even on a loaded machine, and although driving a VirtualClock
    # advances it in 0.1 s steps.
    resolution = timedelta(seconds=1)

    async def quick() -> None:
        return None

    async def long_run() -> None:
        # One run of three resolutions lifts the running average past half
        # a resolution, which closes the automatic prefetch.
        if target.virtual:
            await target.elapse(resolution * 3)
        else:
            await asyncio.sleep((resolution * 3).total_seconds())

    async def hold() -> None:
        await release.wait()

    async def running_after_claim(worker: Worker, expected: int) -> None:
        release.clear()
        for _ in range(3):
            await docket.add(hold)()
        runner = asyncio.create_task(worker.run_forever())
        with release_on_exit(release):
            await target.eventually(lambda: _count_running_at_least(docket, 1), what="a run")
            # One claim marks everything it takes as running, so what this
            # worker holds shows now, beside the one run.
            assert await _count_running(docket) == expected
        await target.eventually(lambda: _running_count(docket, 0), what="all done")
        # Cancelled, not stopped: a stopped worker would not run again.
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    async with target.docket() as docket:
        async with Worker(docket, concurrency=1, scheduling_resolution=resolution) as worker:
            assert worker.prefetch is None
            # A worker that has not seen a run end holds nothing.
            await running_after_claim(worker, 1)
        async with Worker(docket, concurrency=1, scheduling_resolution=resolution) as worker:
            for _ in range(5):
                await docket.add(quick)()
            await target.drive(worker.run_until_finished())
            # Short runs open it: up to concurrency held beside the run.
            await running_after_claim(worker, 2)
            await docket.add(long_run)()
            await target.drive(worker.run_until_finished())
            # A long run closes it again.
            await running_after_claim(worker, 1)


async def _count_running(docket: Docket) -> int:
    return len((await docket.snapshot()).running)


async def _count_running_at_least(docket: Docket, least: int) -> bool:
    return await _count_running(docket) >= least


async def _running_count(docket: Docket, expected: int) -> bool:
    return await _count_running(docket) == expected


async def _state_is(execution: Execution, state: ExecutionState) -> bool:
    await execution.sync()
    return execution.state is state


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
async def test_a_bad_prefetch_is_refused(target: Target, bad: object) -> None:
    async with target.docket() as docket:
        with pytest.raises((ValueError, TypeError), match="prefetch"):
            Worker(docket, prefetch=bad)  # type: ignore[arg-type]


request_id: ContextVar[str] = ContextVar("request_id", default="unset")


async def test_runs_in_one_slot_do_not_share_context_variables(target: Target) -> None:
    # One slot and held work: every run after the first starts in the slot its
    # predecessor just left.  What one run sets must not be seen by the next,
    # as with a task per run (a logging context bound and never cleared, say).
    seen: list[str] = []

    async def bind_and_report(name: str) -> None:
        seen.append(request_id.get())
        request_id.set(name)
        await asyncio.sleep(0)
        seen.append(request_id.get())

    async with target.docket() as docket:
        for index in range(4):
            await docket.add(bind_and_report)(f"run-{index}")
        async with Worker(docket, concurrency=1, prefetch=3) as worker:
            await target.drive(worker.run_until_finished())

    assert seen == [value for index in range(4) for value in ("unset", f"run-{index}")]
