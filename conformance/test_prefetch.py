"""Prefetch: a worker may hold claimed deliveries beyond its free slots.

Pinned here: with ``prefetch`` a worker still never runs more than
``concurrency`` tasks at once; the deliveries it holds are leased to it and
show as running with it; every held delivery runs, in due order, including
when the worker is stopped while holding them; a bad ``prefetch`` is refused.
"""

from __future__ import annotations

import asyncio

import pytest

from conformance.conftest import Target, release_on_exit
from docket import ExecutionState, Worker


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


async def test_stopping_runs_the_deliveries_the_worker_holds(target: Target) -> None:
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
        # Leaving the context ran everything this worker had claimed.
        assert sorted(finished) == [0, 1, 2]
        for execution in executions:
            await execution.sync()
            assert execution.state is ExecutionState.COMPLETED


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
async def test_a_bad_prefetch_is_refused(target: Target, bad: object) -> None:
    async with target.docket() as docket:
        with pytest.raises((ValueError, TypeError), match="prefetch"):
            Worker(docket, prefetch=bad)  # type: ignore[arg-type]
