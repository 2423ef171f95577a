"""Progress reporting: the ``Progress()`` dependency and ``execution.progress``.

Pinned here: ``Progress`` is a class (pydocket's), entered per run; a task gets
its own run's progress; ``set_total(n)``, ``increment(amount=1)`` and
``set_message(text or None)`` update it at once, readable in the task as
``current``, ``total`` and ``message`` and from outside through
``execution.sync()``.  As in pydocket, ``current`` is None until a run starts
(0 once it has), ``total`` is 100 until set, and ``set_message(None)`` clears
the message.  Bad values (``total < 1``, ``amount < 1``) raise ``ValueError``
and change nothing.  Two concurrent runs of one task never write into each
other's progress (pydocket's shared-default trap); outside a run, entering
``Progress`` raises ``LookupError`` (fastmcp relies on that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from conformance.conftest import Target
from docket import Progress, Retry, Worker
from docket.execution import ExecutionProgress

Snapshot = tuple[int, "int | None", "str | None"]


def snapshot(progress: ExecutionProgress) -> Snapshot:
    """``(current, total, message)`` of a progress object."""
    return (progress.current, progress.total, progress.message)


@contextmanager
def releasing(*gates: asyncio.Event) -> Iterator[None]:
    """Open every gate on the way out, so that a failed assertion never leaves a
    run blocked (and the worker's exit waiting on it)."""
    try:
        yield
    finally:
        for gate in gates:
            gate.set()


async def test_a_task_reads_back_what_it_reports(target: Target) -> None:
    """Each update is visible on the task's own progress object at once."""
    seen: list[Snapshot] = []

    async def crunch(progress: ExecutionProgress = Progress()) -> None:
        seen.append(snapshot(progress))
        await progress.set_total(10)
        seen.append(snapshot(progress))
        await progress.increment()
        seen.append(snapshot(progress))
        await progress.increment(amount=4)
        seen.append(snapshot(progress))
        await progress.set_message("halfway")
        seen.append(snapshot(progress))
        await progress.set_total(12)
        await progress.increment(7)
        seen.append(snapshot(progress))
        await progress.set_message(None)
        seen.append(snapshot(progress))

    async with target.docket() as docket:
        execution = await docket.add(crunch)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await target.wait(execution.get_result())

    assert seen == [
        (0, 100, None),
        (0, 10, None),
        (1, 10, None),
        (5, 10, None),
        (5, 10, "halfway"),
        (12, 12, "halfway"),
        (12, 12, None),
    ]


async def test_a_fresh_execution_has_empty_progress(target: Target) -> None:
    """Before any run: current None, total 100, message None, before and after sync().

    (pydocket reported total 1 before ``sync()`` and 100 after it.)
    """

    async def idle() -> None:
        return None

    async with target.docket() as docket:
        execution = await docket.add(idle, when=target.later(3600))()
        assert snapshot(execution.progress) == (None, 100, None)
        await execution.sync()
        assert snapshot(execution.progress) == (None, 100, None)
        fetched = await docket.get_execution(execution.key)
        assert fetched is not None
        assert snapshot(fetched.progress) == (None, 100, None)


async def test_sync_shows_the_progress_of_a_running_task(target: Target) -> None:
    """While the run lasts, ``execution.sync()`` refreshes ``execution.progress``."""
    reported = asyncio.Event()
    release = asyncio.Event()

    async def import_batch(progress: ExecutionProgress = Progress()) -> str:
        await progress.set_total(4)
        await progress.increment()
        await progress.increment()
        await progress.set_message("row 2 of 4")
        reported.set()
        await release.wait()
        await progress.increment(amount=2)
        return "imported"

    async with target.docket() as docket:
        execution = await docket.add(import_batch)()
        async with target.running_worker(docket):
            with releasing(release):
                await target.wait(reported.wait())

                async def shows_halfway() -> bool:
                    await execution.sync()
                    return snapshot(execution.progress) == (2, 4, "row 2 of 4")

                await target.eventually(shows_halfway, what="progress (2, 4, 'row 2 of 4')")

                # A second handle, read from storage, sees the same progress.
                other = await docket.get_execution(execution.key)
                assert other is not None
                assert snapshot(other.progress) == (2, 4, "row 2 of 4")

                release.set()
                assert await target.wait(execution.get_result()) == "imported"


async def test_concurrent_runs_of_one_task_keep_their_own_progress(target: Target) -> None:
    """Two overlapping runs of the same task report into their own records.

    Both runs have entered their dependencies before either reports, which is
    exactly when pydocket's shared ``Progress()`` default sent A's updates to B.
    """
    entered: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}
    go = asyncio.Event()
    reported: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}
    finish = asyncio.Event()

    async def tally(
        label: str, total: int, steps: int, progress: ExecutionProgress = Progress()
    ) -> Snapshot:
        entered[label].set()
        await go.wait()
        await progress.set_total(total)
        await progress.set_message(f"run {label}")
        for _ in range(steps):
            await progress.increment()
            await asyncio.sleep(0)  # let the other run interleave its writes
        reported[label].set()
        await finish.wait()
        return snapshot(progress)

    async with target.docket() as docket:
        run_a = await docket.add(tally, key="tally-a")("a", 10, 3)
        run_b = await docket.add(tally, key="tally-b")("b", 20, 7)
        async with target.running_worker(docket, concurrency=2):
            with releasing(go, finish):
                await target.wait(entered["a"].wait())
                await target.wait(entered["b"].wait())
                go.set()
                await target.wait(reported["a"].wait())
                await target.wait(reported["b"].wait())

                await run_a.sync()
                await run_b.sync()
                assert snapshot(run_a.progress) == (3, 10, "run a")
                assert snapshot(run_b.progress) == (7, 20, "run b")

                finish.set()
                assert await target.wait(run_a.get_result()) == (3, 10, "run a")
                assert await target.wait(run_b.get_result()) == (7, 20, "run b")


async def test_bad_progress_values_raise_value_error_and_change_nothing(target: Target) -> None:
    """``set_total`` below 1 and ``increment`` below 1 are refused."""
    outcomes: dict[str, Any] = {}

    async def careful(progress: ExecutionProgress = Progress()) -> None:
        calls: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("total=0", lambda: progress.set_total(0)),
            ("total=-3", lambda: progress.set_total(-3)),
            ("amount=0", lambda: progress.increment(0)),
            ("amount=-1", lambda: progress.increment(amount=-1)),
        ]
        for label, call in calls:
            try:
                await call()
            except ValueError as error:
                outcomes[label] = error
            else:
                outcomes[label] = None
        outcomes["after"] = snapshot(progress)
        await progress.set_total(2)
        await progress.increment(2)
        outcomes["valid"] = snapshot(progress)

    async with target.docket() as docket:
        execution = await docket.add(careful)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await target.wait(execution.get_result())

    for label in ("total=0", "total=-3", "amount=0", "amount=-1"):
        assert isinstance(outcomes[label], ValueError), f"{label}: {outcomes[label]!r}"
    assert outcomes["after"] == (0, 100, None)
    assert outcomes["valid"] == (2, 2, None)


async def test_each_retry_attempt_starts_with_fresh_progress(target: Target) -> None:
    """A retried run reports from zero again, not on top of the failed attempt."""
    starts: list[Snapshot] = []

    async def flaky(
        progress: ExecutionProgress = Progress(),
        retry: Retry = Retry(attempts=2, delay=timedelta(0)),
    ) -> int:
        starts.append(snapshot(progress))
        await progress.set_total(3)
        await progress.increment(2)
        if retry.attempt == 1:
            raise RuntimeError("transient")
        return progress.current

    async with target.docket() as docket:
        execution = await docket.add(flaky)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(execution.get_result()) == 2

    assert starts == [(0, 100, None), (0, 100, None)]


async def test_progress_is_a_class_clients_extend(target: Target) -> None:
    """``Progress`` subclasses with a no-argument ``__init__`` work as dependencies,
    and outside a run ``__aenter__`` raises ``LookupError`` (fastmcp's fallback)."""

    class CountingProgress(Progress):
        def __init__(self) -> None:
            super().__init__()
            self.label = "counted"

        async def increment(self, amount: int = 1) -> None:
            await super().increment(amount * 2)

    with pytest.raises(LookupError):
        await CountingProgress().__aenter__()

    async def crunch(progress: CountingProgress = CountingProgress()) -> tuple[Any, ...]:  # noqa: B008
        await progress.increment(3)
        return (type(progress).__name__, progress.label, progress.current)

    async with target.docket() as docket:
        execution = await docket.add(crunch)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(execution.get_result()) == ("CountingProgress", "counted", 6)
        await execution.sync()
        assert snapshot(execution.progress) == (6, 100, None)
