"""Runs whose dependencies need only the run resolve without a frame, to the same values.

``docket.dependencies.alone`` is a shortcut the worker takes for tasks that
declare only docket's own per-run dependencies.  These tests pin that it is
taken only where its promise holds, and that what a task receives and how a
run fails are what the general resolution gives.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from types import TracebackType
from typing import Any

import pytest

import docket.dependencies as dependencies_module
from docket import (
    CurrentDocket,
    CurrentExecution,
    Docket,
    ExecutionState,
    Perpetual,
    Retry,
    TaskKey,
    Timeout,
    Worker,
)
from docket.dependencies import Dependency
from docket.dependencies.alone import alone_plan, resolves_alone
from docket.execution import Execution


def promising_classes() -> list[type[Any]]:
    """Every dependency class in ``docket.dependencies`` that declares ``resolves_alone``."""
    found: dict[str, type[Any]] = {}
    for module_name in dir(dependencies_module):
        module = getattr(dependencies_module, module_name)
        if not inspect.ismodule(module) or not module.__name__.startswith("docket.dependencies"):
            continue
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, Dependency) and value.__dict__.get("resolves_alone") is True:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def test_every_class_that_promises_has_no_exit_of_its_own() -> None:
    classes = promising_classes()
    assert {cls.__name__ for cls in classes} >= {"Perpetual", "Cron", "Retry", "Timeout"}
    for cls in classes:
        assert cls.__aexit__ is Dependency.__aexit__, cls


def test_the_promise_is_not_inherited() -> None:
    class Counted(Perpetual):
        pass

    assert resolves_alone(Perpetual())
    assert not resolves_alone(Counted())

    async def plain(perpetual: Perpetual = Perpetual(), retry: Retry = Retry(2)) -> None: ...

    async def subclassed(perpetual: Perpetual = Counted()) -> None: ...

    assert alone_plan(plain) is not None
    assert alone_plan(subclassed) is None


@pytest.fixture
async def memory_docket() -> AsyncIterator[Docket]:
    name = f"alone-{uuid.uuid4().hex[:12]}"
    async with Docket(name=name, url=f"memory://{name}") as opened:
        yield opened


async def test_a_task_receives_the_same_values_either_way(memory_docket: Docket) -> None:
    seen: dict[str, Any] = {}

    async def alone(
        label: str,
        docket: Docket = CurrentDocket(),
        execution: Execution = CurrentExecution(),
        key: str = TaskKey(),
        retry: Retry = Retry(attempts=3),
        timeout: Timeout = Timeout(timedelta(seconds=30)),
    ) -> None:
        seen[label] = (docket, execution.key, key, retry.attempt, retry.attempts, timeout.base)

    class Exiting(Retry):
        exits = 0

        async def __aexit__(
            self,
            exc_type: type[BaseException] | None,
            exc_value: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            Exiting.exits += 1

    async def general(
        label: str,
        docket: Docket = CurrentDocket(),
        execution: Execution = CurrentExecution(),
        key: str = TaskKey(),
        retry: Retry = Exiting(attempts=3),
        timeout: Timeout = Timeout(timedelta(seconds=30)),
    ) -> None:
        seen[label] = (docket, execution.key, key, retry.attempt, retry.attempts, timeout.base)

    assert alone_plan(alone) is not None and alone_plan(general) is None
    await memory_docket.add(alone, key="same")("alone")
    async with Worker(memory_docket) as worker:
        await worker.run_until_finished()
    await memory_docket.add(general, key="same")("general")
    async with Worker(memory_docket) as worker:
        await worker.run_until_finished()
    assert (
        seen["alone"] == seen["general"] == (memory_docket, "same", "same", 1, 3, seen["alone"][5])
    )
    assert Exiting.exits == 1


async def test_a_dependency_given_by_the_caller_is_not_resolved(memory_docket: Docket) -> None:
    received: list[Any] = []

    async def task(first: int, key: str = TaskKey()) -> None:
        received.append((first, key))

    await memory_docket.add(task, key="given-by-keyword")(1, key="chosen")
    await memory_docket.add(task, key="given-positionally")(2, "positional")
    await memory_docket.add(task, key="resolved")(3)
    async with Worker(memory_docket) as worker:
        await worker.run_until_finished()
    assert sorted(received) == [(1, "chosen"), (2, "positional"), (3, "resolved")]


class Broken(Dependency[int]):
    """Fails on entry, and promises to need only the run."""

    resolves_alone = True

    async def __aenter__(self) -> int:
        raise ValueError("broken on purpose")


class BrokenInAFrame(Dependency[int]):
    """Fails the same way, resolved the general way."""

    async def __aenter__(self) -> int:
        raise ValueError("broken on purpose")


async def test_a_dependency_that_raises_fails_the_run_as_either_way_would(
    memory_docket: Docket,
) -> None:
    async def alone(value: int = Broken()) -> None: ...

    async def general(value: int = BrokenInAFrame()) -> None: ...

    assert alone_plan(alone) is not None and alone_plan(general) is None
    first = await memory_docket.add(alone, key="alone")()
    second = await memory_docket.add(general, key="general")()
    async with Worker(memory_docket) as worker:
        await worker.run_until_finished()
    await first.sync()
    await second.sync()
    assert first.state is second.state is ExecutionState.FAILED
    assert first.error is not None and "value" in first.error and "broken on purpose" in first.error
    assert first.error == second.error
