"""Time-aware assertions: what is scheduled, with which arguments, and for when."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from docket import Docket, Execution
from docket.testing import (
    TaskRef,
    _criteria,
    assert_no_tasks,
    describe_scheduled,
    matching_executions,
)
from docket.timeutil import truncate_to_ms

__all__ = ["assert_no_tasks", "assert_not_scheduled", "assert_scheduled"]


def _check_when(when: datetime | None, within: timedelta | None) -> None:
    if when is not None and (not isinstance(when, datetime) or when.tzinfo is None):
        raise ValueError(f"when must be a timezone-aware datetime, got {when!r}")
    if within is not None:
        if not isinstance(within, timedelta) or within < timedelta(0):
            raise ValueError(f"within must be a non-negative timedelta, got {within!r}")
        if when is None:
            raise ValueError("within needs when= to measure against")


def _at(execution: Execution, when: datetime | None, within: timedelta | None) -> bool:
    if when is None:
        return True
    # Storage keeps whole milliseconds, so an exact ``when`` is compared at that resolution.
    return abs(execution.when - truncate_to_ms(when)) <= (within or timedelta(0))


async def assert_scheduled(
    docket: Docket,
    function: TaskRef,
    *,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    key: str | None = None,
    when: datetime | None = None,
    within: timedelta | None = None,
) -> Execution:
    """Assert that a matching execution is pending (scheduled, queued or running); return it.

    ``args`` match exactly, ``kwargs`` as a subset, ``key`` exactly.
    ``when`` (an aware datetime) matches the execution's due time exactly, at
    the millisecond resolution storage keeps, unless ``within`` allows that
    much either way.  With several matches the earliest due is returned.  On
    failure the message lists what is scheduled: when, call with arguments,
    key and state.
    """
    __tracebackhide__ = True
    _check_when(when, within)
    matching, everything = await matching_executions(docket, function, args, kwargs, key)
    timely = [e for e in matching if _at(e, when, within)]
    if not timely:
        expected = _criteria(function, args, kwargs, key)
        if when is not None:
            expected += f" at {when.isoformat()}" + (f" ± {within}" if within else "")
        raise AssertionError(
            f"expected {expected} to be scheduled; scheduled:\n" + describe_scheduled(everything)
        )
    return timely[0]


async def assert_not_scheduled(
    docket: Docket,
    function: TaskRef,
    *,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    key: str | None = None,
    when: datetime | None = None,
    within: timedelta | None = None,
) -> None:
    """Assert that no matching execution is pending (at ``when``, if given)."""
    __tracebackhide__ = True
    _check_when(when, within)
    matching, _ = await matching_executions(docket, function, args, kwargs, key)
    timely = [e for e in matching if _at(e, when, within)]
    if timely:
        raise AssertionError(
            f"expected {_criteria(function, args, kwargs, key)} not to be scheduled; found:\n"
            + describe_scheduled(timely)
        )
