"""Bad input gets a clear exception, at the call that received it, and stores nothing.

Pinned here: a naive ``when`` raises ValueError, an unknown task name KeyError,
something that is not callable TypeError, each from ``add(...)``/``replace(...)``
itself (before any argument is given); an argument that cannot be serialized
raises TypeError from the call that receives the arguments.  Messages name the
parameter or the offending value.  Nothing is scheduled by a call that raised.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from conformance.conftest import Target


async def job(value: object = None) -> None:
    """A task that accepts anything."""


async def assert_nothing_scheduled(docket: object) -> None:
    snapshot = await docket.snapshot()  # type: ignore[attr-defined]
    assert snapshot.total_tasks == 0


async def test_naive_when_is_refused(target: Target) -> None:
    """A ``when`` without a timezone is ambiguous: ValueError naming it."""
    naive = datetime(2030, 1, 2, 3, 4, 5)  # noqa: DTZ001
    async with target.docket() as docket:
        with pytest.raises(ValueError) as raised:
            docket.add(job, when=naive)
        message = str(raised.value)
        assert "when" in message
        assert repr(naive) in message or str(naive) in message or naive.isoformat() in message
        await assert_nothing_scheduled(docket)


async def test_naive_when_is_refused_by_replace(target: Target) -> None:
    """``replace`` checks ``when`` the same way."""
    naive = datetime(2030, 1, 2, 3, 4, 5)  # noqa: DTZ001
    async with target.docket() as docket:
        with pytest.raises(ValueError, match="when"):
            docket.replace(job, when=naive, key="k")
        await assert_nothing_scheduled(docket)


async def test_unknown_task_name_is_refused(target: Target) -> None:
    """A name no task was registered under: KeyError naming it."""
    async with target.docket() as docket:
        with pytest.raises(KeyError) as raised:
            docket.add("no_such_task")
        assert "no_such_task" in str(raised.value)
        with pytest.raises(KeyError, match="no_such_task"):
            docket.replace("no_such_task", when=target.now(), key="k")
        await assert_nothing_scheduled(docket)


async def test_a_registered_name_is_accepted(target: Target) -> None:
    """The same call by a registered name (or an alias) schedules the task."""
    async with target.docket() as docket:
        docket.register(job)
        docket.register(job, names=["job_alias"])
        by_name = await docket.add("job")(1)
        by_alias = await docket.add("job_alias")(2)
        assert by_name.function_name == "job"
        assert by_alias.function_name == "job_alias"
        assert (await docket.snapshot()).total_tasks == 2


async def test_something_not_callable_is_refused(target: Target) -> None:
    """``add(42)``: TypeError naming the value."""
    async with target.docket() as docket:
        with pytest.raises(TypeError) as raised:
            docket.add(42)  # type: ignore[arg-type]
        assert "42" in str(raised.value)
        with pytest.raises(TypeError):
            docket.register(42)  # type: ignore[arg-type]
        await assert_nothing_scheduled(docket)


async def test_an_unserializable_argument_is_refused(target: Target) -> None:
    """An argument that cannot be stored (a lock): TypeError when the arguments are given."""
    async with target.docket() as docket:
        with pytest.raises(TypeError) as raised:
            await docket.add(job)(threading.Lock())
        assert "lock" in str(raised.value).lower()
        with pytest.raises(TypeError):
            await docket.add(job)(value=threading.Lock())
        await assert_nothing_scheduled(docket)


async def test_bad_input_leaves_the_key_free(target: Target) -> None:
    """A refused call under a key does not take the key."""
    async with target.docket() as docket:
        with pytest.raises(TypeError):
            await docket.add(job, key="still-free")(threading.Lock())
        execution = await docket.add(job, key="still-free")("ok")
        assert execution.args == ("ok",)
        assert (await docket.snapshot()).total_tasks == 1


async def test_get_result_with_a_naive_deadline_is_refused(target: Target) -> None:
    """``get_result(deadline=...)`` needs an aware datetime too."""
    async with target.docket() as docket:
        execution = await docket.add(job, when=target.later(timedelta(hours=1)))()
        with pytest.raises(ValueError, match="deadline"):
            await target.wait(execution.get_result(deadline=datetime(2030, 1, 1)))  # noqa: DTZ001
