"""Work a worker cannot run is logged and set aside, never lost, never fatal.

Pinned here: when a worker claims a message naming a task it does not know, it
logs a warning naming the task, keeps the message as a dead letter
(``docket.dead_letters()`` lists it with its key, task name and reason), ends
the execution FAILED with that reason, and goes on running other work.  A
worker with a ``fallback_task`` runs that instead, with the original arguments.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from conformance.conftest import Target
from docket import ExecutionState, Worker


async def known_to_the_producer_only(order_id: int) -> None:
    """Registered with the producer's docket, not with the worker's."""
    raise AssertionError("the worker must not find this task")


async def test_unknown_task_is_set_aside_and_the_worker_carries_on(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """A message naming an unknown task becomes a dead letter; later work still runs."""
    calls: list[str] = []

    async def ordinary(label: str) -> None:
        calls.append(label)

    caplog.set_level(logging.INFO, logger="docket")
    async with target.docket() as producer, target.docket() as consumer:
        consumer.register(ordinary)
        producer.register(ordinary)
        before = await producer.add(ordinary)("before")
        orphan = await producer.add(known_to_the_producer_only, key="orphan")(7)
        after = await producer.add(ordinary)("after")

        async with Worker(consumer, concurrency=1, unknown_task_grace=timedelta(0)) as worker:
            await target.drive(worker.run_until_finished())

        assert calls == ["before", "after"]
        for execution in (before, after):
            await execution.sync()
            assert execution.state is ExecutionState.COMPLETED

        await orphan.sync()
        assert orphan.state is ExecutionState.FAILED
        assert orphan.error is not None
        assert "known_to_the_producer_only" in orphan.error

        letters = await consumer.dead_letters()
        assert [(d.key, d.function_name) for d in letters] == [
            ("orphan", "known_to_the_producer_only")
        ]
        assert "known_to_the_producer_only" in letters[0].reason
        assert [(d.key, d.function_name) for d in await producer.dead_letters()] == [
            ("orphan", "known_to_the_producer_only")
        ]
        assert (await consumer.snapshot()).total_tasks == 0

    warnings = [
        r
        for r in caplog.records
        if r.name.startswith("docket")
        and r.levelno >= logging.WARNING
        and "known_to_the_producer_only" in r.getMessage()
    ]
    assert warnings, "the unknown task must be logged by name"


async def test_dead_letters_are_empty_when_everything_ran(target: Target) -> None:
    """No unknown work, no dead letters."""

    async def fine() -> None:
        pass

    async with target.docket() as docket:
        await docket.add(fine)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await docket.dead_letters() == []


async def test_a_fallback_task_runs_unknown_work_with_its_arguments(target: Target) -> None:
    """With ``fallback_task`` the worker runs it instead of setting the message aside."""
    seen: list[tuple[tuple[object, ...], dict[str, object]]] = []

    async def fallback(*args: object, **kwargs: object) -> str:
        seen.append((args, kwargs))
        return "handled"

    async with target.docket() as producer, target.docket() as consumer:
        orphan = await producer.add(known_to_the_producer_only, key="orphan")(7)
        async with Worker(consumer, fallback_task=fallback) as worker:
            await target.drive(worker.run_until_finished())

        assert seen == [((7,), {})]
        await orphan.sync()
        assert orphan.state is ExecutionState.COMPLETED
        assert orphan.function_name == "known_to_the_producer_only"
        assert await target.wait(orphan.get_result()) == "handled"
        assert await consumer.dead_letters() == []
