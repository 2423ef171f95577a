"""Due work runs in ``when`` order, ties in the order added.

Every engine hands due work out in ``(when, generation)`` order (the engine
contract), so with one producer the order is exact on every target: future
work, past-due work and ties alike.  That the same operations on the same
clock give the same order twice is the memory twin's promise and is checked
there only.  Each test uses ``concurrency=1`` so run order is observable.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from conformance.conftest import Target
from docket import Worker


async def test_immediate_work_runs_in_the_order_added(target: Target) -> None:
    """Several calls due now run first-in, first-out."""
    calls: list[int] = []

    async def job(n: int) -> None:
        calls.append(n)

    async with target.docket() as docket:
        for n in range(10):
            await docket.add(job)(n)
        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished())
    assert calls == list(range(10))


async def test_separated_future_times_run_in_time_order(target: Target) -> None:
    """Added latest-first, clearly separated future work runs earliest-first."""
    calls: list[str] = []

    async def job(label: str) -> None:
        calls.append(label)

    async with target.docket() as docket:
        base = target.now()
        for label, offset in [("third", 0.6), ("second", 0.4), ("first", 0.2)]:
            await docket.add(job, when=base + timedelta(seconds=offset))(label)
        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished(), step=0.05)
    assert calls == ["first", "second", "third"]


async def test_future_work_that_comes_due_together_runs_in_time_order(target: Target) -> None:
    """Work that became due while no worker ran still runs in ``when`` order."""
    calls: list[int] = []

    async def job(n: int) -> None:
        calls.append(n)

    async with target.docket() as docket:
        base = target.now()
        for n in (5, 1, 4, 2, 3):
            await docket.add(job, when=base + timedelta(seconds=0.05 * n))(n)
        await target.elapse(0.4)
        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished())
    assert calls == [1, 2, 3, 4, 5]


async def test_ties_run_in_the_order_added(target: Target) -> None:
    """The same ``when`` for many calls (future when added): they run in the order added,
    whatever their keys."""
    calls: list[str] = []

    async def job(label: str) -> None:
        calls.append(label)

    async with target.docket() as docket:
        when = target.later(0.2)
        labels = ["zulu", "alpha", "mike", "bravo", "yankee", "charlie"]
        for label in labels:
            await docket.add(job, when=when, key=f"key-{label}")(label)
        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished(), step=0.1)
    assert calls == labels


async def test_past_times_run_in_time_order(target: Target) -> None:
    """Work due in the past runs by its ``when``, not by when it was added."""
    calls: list[int] = []

    async def job(n: int) -> None:
        calls.append(n)

    async with target.docket() as docket:
        base = target.now()
        for n in (3, 1, 2):
            await docket.add(job, when=base - timedelta(seconds=10 - n))(n)
        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished())
    assert calls == [1, 2, 3]


async def test_memory_order_is_repeatable(target: Target) -> None:
    """Memory twin: the same operations on the same clock give the same order, twice."""
    if not target.is_memory:
        pytest.skip("exact repeatability is a property of the memory twin")

    async def run_once(suffix: str) -> list[int]:
        calls: list[int] = []

        async def job(n: int) -> None:
            calls.append(n)

        async with target.docket(name=f"{target.name}-{suffix}") as docket:
            base = target.now()
            for n in range(12):
                offset = timedelta(seconds=0.1 * ((n * 7) % 5))
                await docket.add(job, when=base + offset)(n)
            async with Worker(docket, concurrency=1) as worker:
                await target.drive(worker.run_until_finished(), step=0.1)
        return calls

    first = await run_once("a")
    second = await run_once("b")
    assert first == second == sorted(range(12), key=lambda n: ((n * 7) % 5, n))
