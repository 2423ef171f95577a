"""Batch producers: ``Docket.call``, ``add_many`` and ``replace_many`` (pydocket 0.23+).

Pinned here: ``docket.call(fn, when, key)(*args)`` describes a call without
storing it (a ``TaskCall`` whose key and due time are fixed when it is made;
bad arguments raise there).  ``add_many`` and ``replace_many`` store a batch,
``chunk_size`` calls per round trip, and return one Execution per call in
order; each call is handled as ``add``/``replace`` would handle it alone:
SCHEDULED, ALREADY_SCHEDULED for a live key, STRUCK for a struck call, and
FAILED (error in ``schedule_exception``) for a call storage refused, while
the rest of the batch still applies.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from conformance.conftest import Target
from docket import Disposition, ExecutionState, TaskCall, Worker

DONE: list[tuple[str, int]] = []


async def record(label: str, n: int) -> int:
    DONE.append((label, n))
    return n


async def test_add_many_schedules_each_call_as_add_would(target: Target) -> None:
    DONE.clear()
    async with target.docket() as docket:
        await docket.add(record, key="taken", when=target.later(3600))("old", 0)
        await docket.strike(record, "label", "==", "struck")
        calls = [
            docket.call(record)("a", 1),
            docket.call(record, key="taken")("new", 2),
            docket.call(record)("struck", 3),
            docket.call(record, when=target.later(0.5), key="later")("b", 4),
            docket.call("record")("c", 5),
        ]
        assert all(isinstance(call, TaskCall) for call in calls)
        executions = await docket.add_many(calls, chunk_size=2)
        assert [e.disposition for e in executions] == [
            Disposition.SCHEDULED,
            Disposition.ALREADY_SCHEDULED,
            Disposition.STRUCK,
            Disposition.SCHEDULED,
            Disposition.SCHEDULED,
        ]
        assert [e.key for e in executions] == [c.key for c in calls]
        # The live key keeps what it had: the execution reports that, not the new call.
        assert executions[1].args == ("old", 0)
        await docket.cancel("taken")
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert sorted(DONE) == [("a", 1), ("b", 4), ("c", 5)]
        assert await target.wait(executions[3].get_result()) == 4


async def test_replace_many_swaps_scheduled_work(target: Target) -> None:
    DONE.clear()
    async with target.docket() as docket:
        first = await docket.add(record, when=target.later(3600), key="job-1")("first", 1)
        executions = await docket.replace_many(
            [
                docket.call(record, when=target.later(0.1), key="job-1")("replaced", 10),
                docket.call(record, when=target.later(0.1), key="job-2")("fresh", 20),
            ],
            chunk_size=None,
        )
        assert [e.disposition for e in executions] == [Disposition.SCHEDULED] * 2
        assert executions[0].generation > first.generation
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert sorted(DONE) == [("fresh", 20), ("replaced", 10)]
        await first.sync()
        assert first.state is ExecutionState.COMPLETED


async def test_a_call_storage_refuses_fails_alone(target: Target) -> None:
    DONE.clear()
    async with target.docket() as docket:
        good = docket.call(record)("good", 1)
        naive = TaskCall(record, ("naive", 2), {}, "naive-key", datetime(2030, 1, 1))  # noqa: DTZ001
        executions = await docket.add_many([good, naive, docket.call(record)("also", 3)])
        assert [e.disposition for e in executions] == [
            Disposition.SCHEDULED,
            Disposition.FAILED,
            Disposition.SCHEDULED,
        ]
        assert isinstance(executions[1].schedule_exception, (ValueError, TypeError))
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert sorted(DONE) == [("also", 3), ("good", 1)]


async def test_bad_calls_and_chunk_sizes_are_refused(target: Target) -> None:
    async with target.docket() as docket:
        with pytest.raises(TypeError, match="record"):
            docket.call(record)("only-one-argument")
        with pytest.raises(ValueError, match="chunk_size.*0"):
            await docket.add_many([docket.call(record)("x", 1)], chunk_size=0)
        with pytest.raises(TypeError, match="TaskCall"):
            await docket.add_many(["not a call"])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="when"):
            docket.call(record, when=datetime(2030, 1, 1))  # noqa: DTZ001
        assert await docket.add_many([]) == []


async def test_a_call_fixes_its_key_and_time_when_made(target: Target) -> None:
    async with target.docket() as docket:
        before = target.now() - timedelta(milliseconds=1)
        call = docket.call(record)("x", 1)
        assert call.function is record and call.function_name == "record"
        assert call.args == ("x", 1) and call.kwargs == {}
        assert call.key and before <= call.when <= target.now()
        assert docket.call(record)("x", 1).key != call.key
