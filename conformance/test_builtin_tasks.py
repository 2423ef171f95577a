"""The built-in tasks ``trace``, ``fail`` and ``sleep``, registered on every docket.

Pinned here: every ``Docket`` has them in ``docket.tasks`` under their names
(the functions of ``docket.tasks``), so they can be added by name from any
producer and run by any worker.  ``trace(message)`` logs the message with the
key, the docket and the worker on ``docket.task.trace``; ``fail(message)``
raises ``RuntimeError`` with the message on each of its two attempts and ends
FAILED; ``sleep(seconds)`` sleeps on the docket's clock, holding a worker slot,
so an hour of it passes in moments on a ``VirtualClock``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from conformance.conftest import Target
from docket import ExecutionState, Worker
from docket.tasks import fail, sleep, standard_tasks, trace

LONG_TTL = timedelta(days=30)
"""Records outlive any virtual jump here, so reading an outcome never races its expiry."""

LONG_LEASE = timedelta(days=1)
"""A lease no virtual jump here outlasts, so the hour's sleep is never redelivered."""


async def test_every_docket_registers_the_built_in_tasks(target: Target) -> None:
    """``trace``, ``fail`` and ``sleep`` are known by name on a fresh docket."""
    assert standard_tasks == (trace, fail, sleep)
    async with target.docket() as docket:
        assert docket.tasks["trace"] is trace
        assert docket.tasks["fail"] is fail
        assert docket.tasks["sleep"] is sleep


async def test_trace_logs_its_message_with_the_key_docket_and_worker(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """Added by name from one Docket object, run by a worker on another."""
    caplog.set_level(logging.INFO, logger="docket")
    async with target.docket() as producer, target.docket() as docket:
        execution = await producer.add("trace", key="trace-key")("Hello from the test")
        async with Worker(docket, name="tracer") as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(execution.get_result()) is None
        assert execution.state is ExecutionState.COMPLETED

    lines = [r for r in caplog.records if r.name == "docket.task.trace"]
    assert len(lines) == 1
    message = lines[0].getMessage()
    assert lines[0].levelno == logging.INFO
    assert "Hello from the test" in message
    assert "trace-key" in message
    assert target.name in message
    assert "tracer" in message


async def test_trace_has_a_default_message(target: Target) -> None:
    """``trace()`` with no argument runs too."""
    async with target.docket() as docket:
        execution = await docket.add("trace")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED


async def test_fail_fails_twice_then_ends_failed(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """``fail`` always raises RuntimeError carrying its message; it has two attempts."""
    caplog.set_level(logging.INFO, logger="docket")
    async with target.docket() as docket:
        execution = await docket.add("fail", key="fail-key")("Deliberate")
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await execution.sync()
        assert execution.state is ExecutionState.FAILED
        assert execution.attempt == 2
        assert execution.error is not None
        assert execution.error.startswith("RuntimeError: Deliberate")
        with pytest.raises(RuntimeError, match="Deliberate"):
            await target.wait(execution.get_result())

    failures = [
        r
        for r in caplog.records
        if r.name.startswith("docket") and r.levelno >= logging.ERROR and r.exc_info
    ]
    # The first failure is retried (a WARNING); the second ends it, with its traceback.
    assert len(failures) == 1
    assert all(isinstance(r.exc_info[1], RuntimeError) for r in failures if r.exc_info)
    assert failures[0].getMessage().endswith("gave up after 2 attempts")
    assert any(
        r.levelno == logging.WARNING and "retrying in" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize(
    "seconds",
    [pytest.param(0.2, id="short"), pytest.param(3600.0, id="hour")],
)
async def test_sleep_sleeps_on_the_docket_clock_and_holds_a_slot(
    target: Target, seconds: float
) -> None:
    """With one slot, work added after ``sleep`` starts only once the sleep is over."""
    if seconds > 0.5 and not target.virtual:
        pytest.skip("an hour's sleep is only quick on a VirtualClock; 'short' covers this")
    async with target.docket(execution_ttl=LONG_TTL) as docket:
        start = target.now()
        napping = await docket.add("sleep")(seconds)
        following = await docket.add("trace")("after the nap")
        async with Worker(docket, concurrency=1, redelivery_timeout=LONG_LEASE) as worker:
            await target.drive(worker.run_until_finished(), step=seconds / 4)

        await napping.sync()
        await following.sync()
        assert napping.state is ExecutionState.COMPLETED
        assert following.state is ExecutionState.COMPLETED
        assert napping.started_at is not None and napping.completed_at is not None
        assert following.started_at is not None
        nap = timedelta(seconds=seconds) - timedelta(milliseconds=5)
        assert napping.completed_at - start >= nap
        # The one slot was taken for the whole nap.
        assert following.started_at - napping.started_at >= nap


async def test_the_built_ins_run_side_by_side(target: Target) -> None:
    """A mixed batch of built-ins each ends in its own state."""
    async with target.docket() as docket:
        runs = await asyncio.gather(
            docket.add("trace")("one"),
            docket.add("sleep")(0.05),
            docket.add("fail")("two"),
        )
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.025)
        states = []
        for execution in runs:
            await execution.sync()
            states.append(execution.state)
        assert states == [ExecutionState.COMPLETED, ExecutionState.COMPLETED, ExecutionState.FAILED]
