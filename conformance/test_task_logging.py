"""Task logging: the worker's lines about each run, ``Logged`` arguments, ``TaskLogger``.

Pinned here (logger ``docket.worker``):

* ``Started call, 3ms late`` (``, attempt 2`` for a later attempt) and
  ``Completed call in 12ms`` at INFO; a failure that will be retried
  ``Failed call in 12ms (Error: text); retrying in 2s, attempt 2 of 3`` at
  WARNING without a traceback; the failure that ends the run
  ``Failed call in 12ms (Error: text)`` at ERROR with the task's exception
  and traceback (``; gave up after 3 attempts`` when its retries are spent);
* ``call`` is ``task(args...){key}``: arguments annotated
  ``Annotated[T, Logged]`` print with ``repr``, ``Logged(length_only=True)``
  as ``[len N]`` / ``{len N}`` / ``(len N)``, all others as ``...`` (so
  secrets stay out of logs); keyword arguments as ``name=value``;
* durations are ``12ms`` under a second, ``7.2s`` under a minute;
* ``TaskLogger()`` injects a ``LoggerAdapter`` on ``docket.task.<function>``
  whose records carry ``docket.name``, ``docket.worker``, ``docket.task``,
  ``docket.key``, ``docket.when`` and ``docket.attempt``; the worker's own
  lines carry the same context (pydocket's ``extra``).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Annotated, Any

import pytest

from conformance.conftest import Target
from docket import CurrentDocket, Docket, Retry, TaskLogger, Worker
from docket.annotations import Logged

DURATION = r"\d+ms"
"""A duration or lateness under a second, as the worker says it."""


def worker_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "docket.worker"]


def lines_about(caplog: pytest.LogCaptureFixture, key: str) -> list[logging.LogRecord]:
    """The worker's records whose message names the call under ``key``."""
    return [r for r in worker_lines(caplog) if "{" + key + "}" in r.getMessage()]


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    return {
        name: getattr(record, name, None)
        for name in ("docket.name", "docket.worker", "docket.task", "docket.key", "docket.attempt")
    }


async def test_start_and_success_lines(target: Target, caplog: pytest.LogCaptureFixture) -> None:
    """``Started call, 0ms late`` then ``Completed call in 0ms``, both at INFO."""
    caplog.set_level(logging.INFO, logger="docket")

    async def the_task(
        a: Annotated[str, Logged], b: str, c: Annotated[str, Logged()] = "", d: str = ""
    ) -> None:
        return None

    async with target.docket() as docket:
        await docket.add(the_task, key="k-success")(
            "value-a", b="value-b", c="value-c", d="value-d"
        )
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    call = re.escape("the_task('value-a', b=..., c='value-c', d=...){k-success}")
    records = lines_about(caplog, "k-success")
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO], [
        r.getMessage() for r in records
    ]
    assert re.fullmatch(f"Started {call}, {DURATION} late", records[0].getMessage())
    assert re.fullmatch(f"Completed {call} in {DURATION}", records[1].getMessage())
    assert isinstance(getattr(records[0], "docket.lateness"), float)
    assert isinstance(getattr(records[1], "docket.duration"), float)


async def test_the_success_line_shows_the_run_duration(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """A run that takes 0.3 s on the docket's clock logs at least ``300ms``."""
    caplog.set_level(logging.INFO, logger="docket")

    async def slow(docket: Docket = CurrentDocket()) -> None:
        await docket.clock.sleep(0.3)

    async with target.docket() as docket:
        await docket.add(slow, key="k-slow")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.05)

    done = [r for r in lines_about(caplog, "k-slow") if r.getMessage().startswith("Completed")]
    assert len(done) == 1
    match = re.fullmatch(r"Completed slow\(\)\{k-slow\} in (\d+)ms", done[0].getMessage())
    assert match, done[0].getMessage()
    assert int(match.group(1)) >= 299
    assert getattr(done[0], "docket.duration") >= 0.299


async def test_a_failure_is_logged_at_error_with_its_traceback(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """``Failed call in 0ms (Error: text)`` at ERROR, carrying the task's own exception."""
    caplog.set_level(logging.INFO, logger="docket")

    async def explode(order_id: Annotated[int, Logged]) -> None:
        raise ZeroDivisionError(f"order {order_id} has no items")

    async with target.docket() as docket:
        await docket.add(explode, key="k-fail")(31)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    records = lines_about(caplog, "k-fail")
    assert [r.getMessage().split()[0] for r in records] == ["Started", "Failed"]
    failure = records[1]
    assert failure.levelno == logging.ERROR
    assert re.fullmatch(
        f"Failed explode\\(31\\)\\{{k-fail\\}} in {DURATION} "
        "\\(ZeroDivisionError: order 31 has no items\\)",
        failure.getMessage(),
    )
    assert failure.exc_info is not None
    error = failure.exc_info[1]
    assert isinstance(error, ZeroDivisionError) and str(error) == "order 31 has no items"
    text = logging.Formatter().format(failure)
    assert "Traceback (most recent call last)" in text
    assert "in explode" in text
    assert "ZeroDivisionError: order 31 has no items" in text


async def test_a_retry_is_a_warning_and_the_next_attempt_says_its_number(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """Attempt 1: started, failed and retrying (WARNING, no traceback);
    attempt 2: started with its number, completed."""
    caplog.set_level(logging.INFO, logger="docket")

    async def wobble(retry: Retry = Retry(attempts=2, delay=timedelta(0))) -> None:
        if retry.attempt == 1:
            raise TimeoutError("upstream slow")

    async with target.docket() as docket:
        await docket.add(wobble, key="k-retry")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    records = lines_about(caplog, "k-retry")
    call = re.escape("wobble(){k-retry}")
    assert [(r.getMessage().split()[0], r.levelname) for r in records] == [
        ("Started", "INFO"),
        ("Failed", "WARNING"),
        ("Started", "INFO"),
        ("Completed", "INFO"),
    ]
    assert re.fullmatch(
        f"Failed {call} in {DURATION} \\(TimeoutError: upstream slow\\); "
        "retrying in 0ms, attempt 2 of 2",
        records[1].getMessage(),
    )
    assert records[1].exc_info is None
    assert re.fullmatch(f"Started {call}, attempt 2, {DURATION} late", records[2].getMessage())


async def test_a_spent_retry_gives_up_at_error_with_the_traceback(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """Each retried failure is a WARNING; the last says it gave up, at ERROR with its traceback."""
    caplog.set_level(logging.INFO, logger="docket")

    async def doomed(retry: Retry = Retry(attempts=3, delay=timedelta(seconds=2))) -> None:
        raise ConnectionError(f"attempt {retry.attempt} refused")

    async with target.docket() as docket:
        await docket.add(doomed, key="k-doomed")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.5)

    failures = [r for r in lines_about(caplog, "k-doomed") if r.getMessage().startswith("Failed")]
    assert [r.levelname for r in failures] == ["WARNING", "WARNING", "ERROR"]
    assert (
        failures[0]
        .getMessage()
        .endswith("(ConnectionError: attempt 1 refused); retrying in 2s, attempt 2 of 3")
    ), failures[0].getMessage()
    assert failures[1].getMessage().endswith("retrying in 2s, attempt 3 of 3")
    assert [r.exc_info for r in failures[:2]] == [None, None]
    last = failures[2]
    assert last.getMessage().endswith(
        "(ConnectionError: attempt 3 refused); gave up after 3 attempts"
    ), last.getMessage()
    assert "Traceback (most recent call last)" in logging.Formatter().format(last)


async def test_only_logged_arguments_are_shown(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """``Logged`` and ``Logged(length_only=True)`` opt in; everything else is ``...``."""
    caplog.set_level(logging.INFO, logger="docket")

    async def sync_contacts(
        account: Annotated[str, Logged],
        password: str,
        contacts: Annotated[list[str], Logged(length_only=True)],
        tags: Annotated[dict[str, int], Logged(length_only=True)],
        pair: Annotated[tuple[int, int], Logged(length_only=True)],
        flags: Annotated[set[str], Logged(length_only=True)],
        api_token: str = "",
        dry_run: Annotated[bool, Logged] = False,
    ) -> None:
        return None

    async with target.docket() as docket:
        await docket.add(sync_contacts, key="k-args")(
            "acme",
            "hunter2-secret",
            ["ann", "bob", "cy"],
            {"a": 1, "b": 2},
            (1, 2),
            {"x"},
            api_token="tok-very-secret",
            dry_run=True,
        )
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    expected = (
        "sync_contacts('acme', ..., [len 3], {len 2}, (len 2), {len 1}, "
        "api_token=..., dry_run=True){k-args}"
    )
    messages = [r.getMessage() for r in lines_about(caplog, "k-args")]
    assert len(messages) == 2
    for message in messages:
        assert f" {expected}" in message, message
    assert "hunter2-secret" not in caplog.text
    assert "tok-very-secret" not in caplog.text
    assert "'ann'" not in caplog.text


def test_logged_is_exported_from_the_package() -> None:
    """API.md lists ``Logged`` among ``docket``'s exports (``from docket import Logged``)."""
    import docket

    assert getattr(docket, "Logged", None) is Logged


async def test_task_logger_records_carry_the_task_context(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """Records from ``TaskLogger()`` name the docket, worker, task, key and attempt."""
    caplog.set_level(logging.INFO, logger="docket")

    async def audited(
        user_id: int,
        logger: logging.LoggerAdapter[logging.Logger] = TaskLogger(),
        retry: Retry = Retry(attempts=2, delay=timedelta(0)),
    ) -> None:
        logger.info("auditing user %d", user_id, extra={"audit.reason": "nightly"})
        if retry.attempt == 1:
            raise RuntimeError("again")

    async with target.docket() as docket:
        execution = await docket.add(audited, key="k-audit")(5)
        async with Worker(docket, name="audit-worker") as worker:
            await target.drive(worker.run_until_finished())

    records = [r for r in caplog.records if r.name == "docket.task.audited"]
    assert [r.getMessage() for r in records] == ["auditing user 5", "auditing user 5"]
    for attempt, record in enumerate(records, start=1):
        assert context_of(record) == {
            "docket.name": docket.name,
            "docket.worker": "audit-worker",
            "docket.task": "audited",
            "docket.key": "k-audit",
            "docket.attempt": attempt,
        }
        assert getattr(record, "docket.when", None) is not None
        assert getattr(record, "audit.reason", None) == "nightly"
    assert execution.key == "k-audit"


async def test_worker_lines_carry_the_task_context(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's run lines carry the same ``extra`` as ``TaskLogger`` records.

    (pydocket sets ``docket.name``, ``docket.worker``, ``docket.task``,
    ``docket.key``, ``docket.attempt`` and more on them, for structured logs.)
    """
    caplog.set_level(logging.INFO, logger="docket")

    async def plain() -> None:
        return None

    async with target.docket() as docket:
        await docket.add(plain, key="k-extra")()
        async with Worker(docket, name="extra-worker") as worker:
            await target.drive(worker.run_until_finished())

    records = lines_about(caplog, "k-extra")
    assert len(records) == 2
    for record in records:
        assert context_of(record) == {
            "docket.name": docket.name,
            "docket.worker": "extra-worker",
            "docket.task": "plain",
            "docket.key": "k-extra",
            "docket.attempt": 1,
        }, record.getMessage()
