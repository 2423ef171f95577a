"""Task logging: the worker's lines about each run, ``Logged`` arguments, ``TaskLogger``.

Pinned here (logger ``docket.worker``):

* start ``↪ [lateness] call`` (``↬`` for a later attempt), success
  ``↩ [duration] call`` at INFO, failure ``↩ [duration] call`` at ERROR with
  the task's exception and traceback, retry ``↫ [duration] call`` at INFO;
* ``call`` is ``task(args...){key}``: arguments annotated
  ``Annotated[T, Logged]`` print with ``repr``, ``Logged(length_only=True)``
  as ``[len N]`` / ``{len N}`` / ``(len N)``, all others as ``...`` (so
  secrets stay out of logs); keyword arguments as ``name=value``;
* durations are ``f"{ms:6.0f}ms"`` under 100 s;
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

DURATION = r"\[\s*-?\d+ms\]"
"""A bracketed duration or lateness under 100 s, as the worker formats it."""


def worker_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "docket.worker"]


def lines_about(caplog: pytest.LogCaptureFixture, key: str) -> list[logging.LogRecord]:
    """The worker's records whose message ends with ``{key}``."""
    return [r for r in worker_lines(caplog) if r.getMessage().endswith("{" + key + "}")]


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    return {
        name: getattr(record, name, None)
        for name in ("docket.name", "docket.worker", "docket.task", "docket.key", "docket.attempt")
    }


async def test_start_and_success_lines(target: Target, caplog: pytest.LogCaptureFixture) -> None:
    """``↪ [lateness] call`` then ``↩ [duration] call``, both at INFO."""
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
    assert re.fullmatch(f"↪ {DURATION} {call}", records[0].getMessage())
    assert re.fullmatch(f"↩ {DURATION} {call}", records[1].getMessage())


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

    done = [r.getMessage() for r in lines_about(caplog, "k-slow") if r.getMessage().startswith("↩")]
    assert len(done) == 1
    match = re.fullmatch(r"↩ \[\s*(\d+)ms\] slow\(\)\{k-slow\}", done[0])
    assert match, done[0]
    assert int(match.group(1)) >= 299


async def test_a_failure_is_logged_at_error_with_its_traceback(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """``↩ [duration] call`` at ERROR, carrying the task's own exception."""
    caplog.set_level(logging.INFO, logger="docket")

    async def explode(order_id: Annotated[int, Logged]) -> None:
        raise ZeroDivisionError(f"order {order_id} has no items")

    async with target.docket() as docket:
        await docket.add(explode, key="k-fail")(31)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    records = lines_about(caplog, "k-fail")
    assert [r.getMessage()[0] for r in records] == ["↪", "↩"]
    failure = records[1]
    assert failure.levelno == logging.ERROR
    assert re.fullmatch(f"↩ {DURATION} explode\\(31\\)\\{{k-fail\\}}", failure.getMessage())
    assert failure.exc_info is not None
    error = failure.exc_info[1]
    assert isinstance(error, ZeroDivisionError) and str(error) == "order 31 has no items"
    text = logging.Formatter().format(failure)
    assert "Traceback (most recent call last)" in text
    assert "in explode" in text
    assert "ZeroDivisionError: order 31 has no items" in text


async def test_a_retry_is_logged_and_the_next_attempt_starts_with_a_hooked_arrow(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """Attempt 1: ``↪``, ``↩`` (ERROR), ``↫``; attempt 2: ``↬``, ``↩`` (INFO)."""
    caplog.set_level(logging.INFO, logger="docket")

    async def wobble(retry: Retry = Retry(attempts=2, delay=timedelta(0))) -> None:
        if retry.attempt == 1:
            raise TimeoutError("upstream slow")

    async with target.docket() as docket:
        await docket.add(wobble, key="k-retry")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    records = lines_about(caplog, "k-retry")
    assert [(r.getMessage()[0], r.levelname) for r in records] == [
        ("↪", "INFO"),
        ("↩", "ERROR"),
        ("↫", "INFO"),
        ("↬", "INFO"),
        ("↩", "INFO"),
    ]
    for record in records:
        assert re.fullmatch(f". {DURATION} wobble\\(\\)\\{{k-retry\\}}", record.getMessage())
    assert isinstance(records[1].exc_info and records[1].exc_info[1], TimeoutError)


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
        assert message.endswith(" " + expected), message
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
