"""The guide's "Basic Error Handling": failures, logging and ``Retry``.

Pinned here: a task that raises is logged at ERROR with its traceback, ends
FAILED with ``"Type: message"`` as its error, and is not retried by default;
the worker carries on with other work.  ``Retry(attempts=n, delay=d)`` runs a
task at most n times in all, under the same key, each retry no sooner than d
after the failure; ``retry.attempt`` numbers the runs from 1;
``Retry.forever`` retries until the task succeeds.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from conformance.conftest import Target
from docket import ExecutionState, Retry, Worker


class Boom(Exception):
    """The error the failing tasks raise."""


def error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """ERROR records from docket's loggers that carry a traceback."""
    return [
        r
        for r in caplog.records
        if r.name.startswith("docket") and r.levelno >= logging.ERROR and r.exc_info
    ]


async def test_a_failing_task_is_logged_with_its_traceback_and_ends_failed(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """By default a failure is logged, marked FAILED and not retried; the worker moves on."""
    calls: list[str] = []

    async def explode(label: str) -> None:
        calls.append(label)
        raise Boom(f"kaboom {label}")

    async def fine() -> str:
        return "fine"

    caplog.set_level(logging.INFO, logger="docket")
    async with target.docket() as docket:
        failing = await docket.add(explode)("x")
        after = await docket.add(fine)()
        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished())

        assert calls == ["x"]
        await failing.sync()
        assert failing.state is ExecutionState.FAILED
        assert failing.error == "Boom: kaboom x"
        assert failing.completed_at is not None
        assert failing.attempt == 1
        assert await target.wait(after.get_result()) == "fine"

    errors = error_records(caplog)
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], Boom)
    assert "explode" in errors[0].getMessage()
    assert "kaboom x" in caplog.text  # the traceback is in the formatted output


async def test_a_failing_sync_task_fails_the_same_way(target: Target) -> None:
    """Plain (non-async) functions are tasks too, and fail like async ones."""

    def explode() -> None:
        raise Boom("sync kaboom")

    async with target.docket() as docket:
        execution = await docket.add(explode)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await execution.sync()
        assert execution.state is ExecutionState.FAILED
        assert execution.error == "Boom: sync kaboom"


async def test_retry_runs_a_flaky_task_until_it_succeeds(
    target: Target, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The guide's ``flaky_api_call``: three attempts with a delay between them."""
    statuses = [500, 503, 200]
    attempts_seen: list[int] = []
    started: list[datetime] = []
    delay = timedelta(seconds=0.2)

    async def flaky_api_call(
        url: str,
        retry: Retry = Retry(attempts=3, delay=delay),
    ) -> None:
        attempts_seen.append(retry.attempt)
        started.append(target.now())
        status_code = statuses[len(attempts_seen) - 1]
        if status_code != 200:
            raise Exception(f"API returned {status_code}")

        print(f"Success on attempt {retry.attempt}")

    caplog.set_level(logging.INFO, logger="docket")
    async with target.docket() as docket:
        execution = await docket.add(flaky_api_call, key="flaky")("https://example.test/")
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.1)

        assert attempts_seen == [1, 2, 3]
        assert started[1] - started[0] >= delay
        assert started[2] - started[1] >= delay
        await execution.sync()
        assert execution.key == "flaky"
        assert execution.state is ExecutionState.COMPLETED
        assert execution.attempt == 3
        assert await target.wait(execution.get_result()) is None

    assert capsys.readouterr().out == "Success on attempt 3\n"
    # Each failed attempt that is retried is one WARNING line, without a traceback.
    assert error_records(caplog) == []
    retried = [
        r for r in caplog.records if r.levelno == logging.WARNING and "flaky" in r.getMessage()
    ]
    assert [r.getMessage().rpartition("; ")[2] for r in retried] == [
        "retrying in 200ms, attempt 2 of 3",
        "retrying in 200ms, attempt 3 of 3",
    ]
    assert [r.exc_info for r in retried] == [None, None]


async def test_retry_gives_up_after_its_attempts(target: Target) -> None:
    """``attempts`` counts every run: three attempts mean three runs, then FAILED."""
    attempts_seen: list[int] = []

    async def always_fails(retry: Retry = Retry(attempts=3)) -> None:
        attempts_seen.append(retry.attempt)
        raise Boom(f"attempt {retry.attempt}")

    async with target.docket() as docket:
        execution = await docket.add(always_fails)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

        assert attempts_seen == [1, 2, 3]
        await execution.sync()
        assert execution.state is ExecutionState.FAILED
        assert execution.attempt == 3
        assert execution.error == "Boom: attempt 3"
        with pytest.raises(Boom, match="attempt 3"):
            await target.wait(execution.get_result())


async def test_the_default_retry_makes_one_attempt(target: Target) -> None:
    """``Retry()`` means one attempt in all: no retry."""
    attempts_seen: list[int] = []

    async def once(retry: Retry = Retry()) -> None:
        attempts_seen.append(retry.attempt)
        raise Boom("once")

    async with target.docket() as docket:
        execution = await docket.add(once)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert attempts_seen == [1]
        await execution.sync()
        assert execution.state is ExecutionState.FAILED


async def test_retry_forever_retries_until_success(target: Target) -> None:
    """``Retry.forever(delay)`` keeps going past any fixed count."""
    attempts_seen: list[int] = []

    async def stubborn(retry: Retry = Retry.forever(timedelta(seconds=0.05))) -> str:
        attempts_seen.append(retry.attempt)
        if retry.attempt < 6:
            raise Boom("not yet")
        return "finally"

    async with target.docket() as docket:
        execution = await docket.add(stubborn)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.05)
        assert attempts_seen == [1, 2, 3, 4, 5, 6]
        assert await target.wait(execution.get_result()) == "finally"


async def test_a_retry_waits_scheduled_under_the_same_key(target: Target) -> None:
    """Between attempts the execution is SCHEDULED again, same key, next attempt, later when."""
    failed_at: list[datetime] = []

    async def later(retry: Retry = Retry(attempts=2, delay=timedelta(hours=1))) -> None:
        failed_at.append(target.now())
        raise Boom("try again in an hour")

    async with target.docket() as docket:
        execution = await docket.add(later, key="patient")()
        async with target.running_worker(docket):

            async def rescheduled() -> bool:
                await execution.sync()
                return execution.attempt == 2

            await target.eventually(rescheduled, what="the retry scheduled")
            assert execution.key == "patient"
            assert execution.state is ExecutionState.SCHEDULED
            assert execution.when >= failed_at[0] + timedelta(hours=1) - timedelta(milliseconds=1)
            assert execution.worker is None
            snapshot = await docket.snapshot()
            assert [(e.key, e.attempt) for e in snapshot.future] == [("patient", 2)]
            assert failed_at and len(failed_at) == 1


async def test_a_scheduled_retry_can_be_cancelled(target: Target) -> None:
    """A scheduled retry is ordinary scheduled work: cancelling it stops the chain."""
    attempts_seen: list[int] = []

    async def later(retry: Retry = Retry(attempts=5, delay=timedelta(hours=1))) -> None:
        attempts_seen.append(retry.attempt)
        raise Boom("again")

    async with target.docket() as docket:
        execution = await docket.add(later, key="stop-me")()
        async with target.running_worker(docket):

            async def rescheduled() -> bool:
                await execution.sync()
                return execution.attempt == 2 and execution.state is ExecutionState.SCHEDULED

            await target.eventually(rescheduled, what="the retry scheduled")
            await docket.cancel("stop-me")
            await execution.sync()
            assert execution.state is ExecutionState.CANCELLED
        assert attempts_seen == [1]
        assert (await docket.snapshot()).total_tasks == 0
