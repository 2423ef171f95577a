"""Synchronous tasks: their bodies run in a thread, so the worker stays responsive.

Pinned here: a ``def`` task runs in a thread with a copy of the run's context
(its dependencies and ``CurrentExecution`` work as in an async task), so while
it blocks the worker goes on renewing its leases: a body that blocks longer
than ``redelivery_timeout`` keeps its lease and is never run by a second
worker at the same time.  A ``Timeout`` on a sync task ends the run when it
expires (the thread finishes on its own; its result is discarded).  These
block for real, so they run on the system-clock targets.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from conformance.conftest import Target
from docket import CurrentExecution, Execution, ExecutionState, Timeout, Worker

LEASE = timedelta(milliseconds=600)


def real_time_only(target: Target) -> None:
    if target.virtual:
        pytest.skip("a sync body blocks for real; the system-clock targets cover it")


async def test_a_sync_task_runs_in_a_thread_with_its_dependencies(target: Target) -> None:
    real_time_only(target)
    seen: dict[str, object] = {}

    def describe(n: int, execution: Execution = CurrentExecution()) -> str:
        seen["thread"] = threading.current_thread() is threading.main_thread()
        return f"{execution.function_name}:{n}"

    async with target.docket() as docket:
        execution = await docket.add(describe)(7)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(execution.get_result()) == "describe:7"
    assert seen["thread"] is False


async def test_a_blocking_sync_task_keeps_its_lease_from_a_second_worker(target: Target) -> None:
    real_time_only(target)
    runs: Counter[str] = Counter()

    def block(label: str) -> str:
        runs[label] += 1
        time.sleep(LEASE.total_seconds() * 3)  # three leases long
        return label

    async with target.docket() as docket:
        execution = await docket.add(block)("only-once")
        async with Worker(docket, name="first", redelivery_timeout=LEASE) as first:
            async with Worker(docket, name="second", redelivery_timeout=LEASE) as second:
                await target.drive(
                    _together(first.run_until_finished(), second.run_until_finished())
                )
        assert await target.wait(execution.get_result()) == "only-once"
    assert runs == {"only-once": 1}


async def test_a_timeout_ends_a_blocking_sync_task(target: Target) -> None:
    real_time_only(target)
    finished = threading.Event()

    def stuck(timeout: Timeout = Timeout(timedelta(milliseconds=200))) -> None:
        time.sleep(1.0)
        finished.set()

    async with target.docket() as docket:
        execution = await docket.add(stuck)()
        async with Worker(docket) as worker:
            started = time.monotonic()
            await target.drive(worker.run_until_finished())
            took = time.monotonic() - started
        await execution.sync()
        assert execution.state is ExecutionState.FAILED
        assert execution.error is not None and "exceeded timeout" in execution.error
    # The run ended at its timeout, not when the thread let go.
    assert took < 1.0 or not finished.is_set()


async def _together(*runs: object) -> None:
    import asyncio

    await asyncio.gather(*runs)  # type: ignore[arg-type]
