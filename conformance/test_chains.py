"""Task chains: tasks that schedule follow-up work through ``CurrentDocket()``.

Pinned here: a running task can add work to its own docket (by function or by
name, now or later), so sequential pipelines pass results down the line and
one task can fan work out to many; the worker's ``run_until_finished`` counts
that follow-up work as part of "finished".  Keys make fan-out idempotent: a
retried parent that adds the same keyed children again does not duplicate
them.  A step that fails ends its branch and nothing after it is scheduled.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from conformance.conftest import Target
from docket import (
    CurrentDocket,
    CurrentExecution,
    Disposition,
    Docket,
    Execution,
    ExecutionState,
    Retry,
    TaskKey,
    Worker,
)


class Boom(Exception):
    """The error a failing step raises."""


async def test_a_sequential_chain_passes_results_down_the_line(target: Target) -> None:
    """extract -> transform -> load, each step adding the next with its output."""
    steps: list[str] = []

    async def load(order_id: int, total: float) -> str:
        steps.append("load")
        return f"order {order_id}: {total:.2f}"

    async def transform(order_id: int, rows: list[float], docket: Docket = CurrentDocket()) -> None:
        steps.append("transform")
        await docket.add(load, key=f"{order_id}-load")(order_id, sum(rows))

    async def extract(order_id: int, docket: Docket = CurrentDocket()) -> None:
        steps.append("extract")
        await docket.add(transform, key=f"{order_id}-transform")(order_id, [19.99, 5.01, 75.0])

    async with target.docket() as docket:
        await docket.add(extract, key="7-extract")(7)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

        assert steps == ["extract", "transform", "load"]
        for key in ("7-extract", "7-transform", "7-load"):
            execution = await docket.get_execution(key)
            assert execution is not None and execution.state is ExecutionState.COMPLETED, key
        final = await docket.get_execution("7-load")
        assert final is not None
        assert await target.wait(final.get_result()) == "order 7: 100.00"


async def test_a_chain_can_wait_between_steps(target: Target) -> None:
    """Each step schedules the next a little later; the steps run in order, on time."""
    delay = timedelta(seconds=0.1)
    ran_at: list[tuple[int, datetime]] = []

    async def countdown(n: int, docket: Docket = CurrentDocket()) -> None:
        ran_at.append((n, target.now()))
        if n > 0:
            await docket.add(countdown, when=docket.clock.now() + delay)(n - 1)

    async with target.docket() as docket:
        await docket.add(countdown)(3)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=delay / 2)

    assert [n for n, _ in ran_at] == [3, 2, 1, 0]
    times = [when for _, when in ran_at]
    for earlier, later in zip(times, times[1:], strict=False):
        assert later - earlier >= delay - timedelta(milliseconds=1)


async def test_a_chain_can_name_its_next_step(target: Target) -> None:
    """Steps may add registered tasks by name; the run docket is the worker's own."""
    seen_dockets: list[Docket] = []
    steps: list[str] = []

    async def second_step(parent: str) -> None:
        steps.append(f"second after {parent}")

    async def first_step(docket: Docket = CurrentDocket(), key: str = TaskKey()) -> None:
        seen_dockets.append(docket)
        steps.append("first")
        await docket.add("second_step")(key)

    async with target.docket() as producer, target.docket() as worker_docket:
        for docket in (producer, worker_docket):
            docket.register(first_step)
            docket.register(second_step)
        await producer.add("first_step", key="first")()
        async with Worker(worker_docket) as worker:
            await target.drive(worker.run_until_finished())
        assert seen_dockets == [worker_docket]
    assert steps == ["first", "second after first"]


async def test_fan_out_runs_every_child_once(target: Target) -> None:
    """One task adds a child per item; every child runs exactly once."""
    processed: list[str] = []

    async def process(item: str, parent: str) -> str:
        processed.append(item)
        await asyncio.sleep(0)
        return f"{item} from {parent}"

    async def dispatch(
        items: list[str],
        docket: Docket = CurrentDocket(),
        execution: Execution = CurrentExecution(),
    ) -> list[str]:
        keys = []
        for item in items:
            child = await docket.add(process, key=f"process-{item}")(item, execution.key)
            keys.append(child.key)
        return keys

    items = [f"item-{n}" for n in range(6)]
    async with target.docket() as docket:
        parent = await docket.add(dispatch, key="dispatcher")(items)
        async with Worker(docket, concurrency=3) as worker:
            await target.drive(worker.run_until_finished())

        assert await target.wait(parent.get_result()) == [f"process-{item}" for item in items]
        assert sorted(processed) == items
        for item in items:
            child = await docket.get_execution(f"process-{item}")
            assert child is not None
            assert await target.wait(child.get_result()) == f"{item} from dispatcher"


async def test_a_retried_parent_does_not_duplicate_keyed_children(target: Target) -> None:
    """The parent fails after fanning out and is retried; the children, keyed and still
    pending, are not added twice, and each runs once."""
    dispositions: list[list[Disposition]] = []
    processed: list[int] = []

    async def child(n: int) -> None:
        processed.append(n)

    async def parent(
        docket: Docket = CurrentDocket(),
        retry: Retry = Retry(attempts=2),
    ) -> None:
        when = docket.clock.now() + timedelta(seconds=0.3)
        added = [await docket.add(child, when=when, key=f"child-{n}")(n) for n in range(3)]
        dispositions.append([execution.disposition for execution in added])
        if retry.attempt == 1:
            raise Boom("lost the connection after fanning out")

    async with target.docket() as docket:
        run = await docket.add(parent)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.1)

        assert dispositions == [
            [Disposition.SCHEDULED] * 3,
            [Disposition.ALREADY_SCHEDULED] * 3,
        ]
        assert sorted(processed) == [0, 1, 2]
        await run.sync()
        assert run.state is ExecutionState.COMPLETED


async def test_a_failing_step_ends_its_branch(target: Target) -> None:
    """When a step fails, the steps after it are never scheduled; the worker finishes."""
    steps: list[str] = []

    async def third() -> None:
        steps.append("third")

    async def charge_card() -> None:
        raise Boom("second step broke")

    async def second(docket: Docket = CurrentDocket()) -> None:
        steps.append("second")
        await charge_card()
        await docket.add(third)()

    async def first(docket: Docket = CurrentDocket()) -> None:
        steps.append("first")
        await docket.add(second, key="step-2")()

    async with target.docket() as docket:
        await docket.add(first)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

        assert steps == ["first", "second"]
        failed = await docket.get_execution("step-2")
        assert failed is not None and failed.state is ExecutionState.FAILED
        assert failed.error == "Boom: second step broke"
        assert (await docket.snapshot()).total_tasks == 0
