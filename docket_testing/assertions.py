"""Time-aware assertions: what is scheduled and for when, and what ran and when.

``assert_scheduled``, ``assert_not_scheduled`` and ``assert_no_tasks`` read
the docket's snapshot; ``assert_ran`` and ``assert_not_ran`` read the run
history that ``run_due`` and ``advance`` keep (``docket_testing.history``).
Every failure lists what there is (what is scheduled, or what ran), and,
under a ``VirtualClock``, names matching work due a moment after the instant
asked about: the usual sign of an application reading the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from docket import Docket, Execution, VirtualClock
from docket.testing import TaskRef, describe_scheduled, matching_executions
from docket.timeutil import truncate_to_ms
from docket_testing.history import Run, describe_runs, run_history
from docket_testing.near_miss import WALL_CLOCK_HINT, describe_near_misses, due_just_after

__all__ = [
    "assert_no_tasks",
    "assert_not_ran",
    "assert_not_scheduled",
    "assert_ran",
    "assert_scheduled",
]


def _task_name(function: TaskRef) -> str:
    if isinstance(function, str):
        return function
    name = getattr(function, "__name__", None)
    if not callable(function) or not isinstance(name, str):
        raise TypeError(f"function must be a task function or its name, got {function!r}")
    return name


def _criteria(
    function: TaskRef, args: Any, kwargs: Any, key: Any, *, kwargs_exact: bool = False
) -> str:
    parts = [_task_name(function)]
    if args is not None:
        parts.append(f"args={tuple(args)!r}")
    if kwargs is not None:
        parts.append(f"kwargs{'=' if kwargs_exact else '⊇'}{dict(kwargs)!r}")
    if key is not None:
        parts.append(f"key={key!r}")
    return " ".join(parts)


def _check_instant(name: str, instant: datetime | None, within: timedelta | None) -> None:
    if instant is not None and (
        not isinstance(instant, datetime) or instant.tzinfo is None or instant.utcoffset() is None
    ):
        raise ValueError(f"{name} must be a timezone-aware datetime, got {instant!r}")
    if within is not None:
        if not isinstance(within, timedelta) or within < timedelta(0):
            raise ValueError(f"within must be a non-negative timedelta, got {within!r}")
        if instant is None:
            raise ValueError(f"within needs {name}= to measure against, got within={within!r}")


def _check_call(function: TaskRef, args: Any, kwargs: Any, key: Any) -> str:
    name = _task_name(function)
    if args is not None and (isinstance(args, (str, bytes)) or not isinstance(args, Sequence)):
        raise TypeError(f"args must be a tuple or list of arguments, got {args!r}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise TypeError(f"kwargs must be a mapping of keyword arguments, got {kwargs!r}")
    if key is not None and not isinstance(key, str):
        raise TypeError(f"key must be a string, got {key!r}")
    return name


def _close_to(actual: datetime, instant: datetime | None, within: timedelta | None) -> bool:
    if instant is None:
        return True
    # Storage keeps whole milliseconds, so an exact instant is compared at that resolution.
    return abs(actual - truncate_to_ms(instant)) <= (within or timedelta(0))


def _at_when(instant: datetime | None, within: timedelta | None) -> str:
    if instant is None:
        return ""
    return f" at {instant.isoformat()}" + (f" ± {within}" if within else "")


def _near_miss_note(
    docket: Docket, executions: Sequence[Execution], instant: datetime, instant_is: str
) -> str:
    """The near-miss hint for ``executions`` due just after ``instant``, or ``""``."""
    if not isinstance(docket.clock, VirtualClock):
        return ""  # on the system clock, work due in a moment is ordinary
    near = due_just_after(executions, instant)
    if not near:
        return ""
    return (
        f"\nDue a moment after {instant_is}:\n{describe_near_misses(near, instant, instant_is)}\n"
        f"Work due a moment after {instant_is} usually means {WALL_CLOCK_HINT}."
    )


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
    key and state; and, on a virtual clock, matching work due less than a
    second after ``when`` (plus ``within``), with what that usually means.
    """
    __tracebackhide__ = True
    _check_instant("when", when, within)
    matching, everything = await matching_executions(docket, function, args, kwargs, key)
    timely = [e for e in matching if _close_to(e.when, when, within)]
    if not timely:
        expected = _criteria(function, args, kwargs, key) + _at_when(when, within)
        message = f"expected {expected} to be scheduled; scheduled:\n" + describe_scheduled(
            everything
        )
        if when is not None:
            latest = truncate_to_ms(when) + (within or timedelta(0))
            message += _near_miss_note(docket, matching, latest, "the expected time")
        raise AssertionError(message)
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
    _check_instant("when", when, within)
    matching, _ = await matching_executions(docket, function, args, kwargs, key)
    timely = [e for e in matching if _close_to(e.when, when, within)]
    if timely:
        raise AssertionError(
            f"expected {_criteria(function, args, kwargs, key)} not to be scheduled; found:\n"
            + describe_scheduled(timely)
        )


async def assert_no_tasks(docket: Docket) -> None:
    """Assert that nothing is scheduled, queued or running.

    On failure the message lists what is pending and, on a virtual clock,
    names work due less than a second after now.
    """
    __tracebackhide__ = True
    snapshot = await docket.snapshot()
    everything: list[Execution] = [*snapshot.future, *snapshot.running]
    if everything:
        raise AssertionError(
            f"expected no tasks, found {len(everything)}:\n"
            + describe_scheduled(everything)
            + _near_miss_note(docket, everything, docket.clock.now(), "now")
        )


def _ran_as(
    run: Run,
    name: str,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    key: str | None,
    at: datetime | None,
    within: timedelta | None,
) -> bool:
    return (
        run.function_name == name
        and (args is None or run.args == tuple(args))
        and (kwargs is None or dict(run.kwargs) == dict(kwargs))
        and (key is None or run.key == key)
        and _close_to(run.started_at, at, within)
    )


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


async def assert_ran(
    docket: Docket,
    function: TaskRef,
    *,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    key: str | None = None,
    times: int | None = None,
    at: datetime | None = None,
    within: timedelta | None = None,
) -> list[Run]:
    """Assert that ``run_due``/``advance`` ran matching work; return the matching runs.

    ``function`` is the task function or its name.  ``args`` and ``kwargs``
    match exactly, ``key`` exactly.  ``at`` (an aware datetime) matches the
    run's start on the docket's clock exactly, at the millisecond resolution
    storage keeps, unless ``within`` allows that much either way.  ``times``
    is the exact number of matching runs wanted (0 allowed); without it, at
    least one.  Every settled run counts, however it ended (see ``Run``).

    On failure the message lists what ran (from ``run_history``), matching
    work that is still pending, and, on a virtual clock, matching work due
    less than a second after now, with what that usually means.
    """
    __tracebackhide__ = True
    name = _check_call(function, args, kwargs, key)
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 0):
        raise ValueError(f"times must be a non-negative integer, got {times!r}")
    _check_instant("at", at, within)
    runs = run_history(docket)
    matching = [run for run in runs if _ran_as(run, name, args, kwargs, key, at, within)]
    if (times is None and matching) or len(matching) == times:
        return matching
    expected = _criteria(function, args, kwargs, key, kwargs_exact=True) + _at_when(at, within)
    wanted = "at least once" if times is None else _times(times)
    now = docket.clock.now()
    message = (
        f"expected {expected} to have run {wanted}; it ran {_times(len(matching))} "
        f"(the clock is at {now.isoformat()}); what ran:\n{describe_runs(runs)}"
    )
    if times is None or len(matching) < times:
        message += await _pending_note(docket, function, args, kwargs, key, now)
    raise AssertionError(message)


async def _pending_note(
    docket: Docket,
    function: TaskRef,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    key: str | None,
    now: datetime,
) -> str:
    """Matching work that has not run yet, if any, and the near-miss hint for it."""
    matching, _ = await matching_executions(docket, function, args, None, key)
    if kwargs is not None:
        matching = [e for e in matching if dict(e.kwargs) == dict(kwargs)]
    if not matching:
        return ""
    return (
        "\nMatching work not run yet:\n"
        + describe_scheduled(matching)
        + (_near_miss_note(docket, matching, now, "now"))
    )


async def assert_not_ran(
    docket: Docket,
    function: TaskRef,
    *,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    key: str | None = None,
    at: datetime | None = None,
    within: timedelta | None = None,
) -> None:
    """Assert that ``run_due``/``advance`` ran no matching work (see ``assert_ran``).

    On failure the message lists the matching runs.
    """
    __tracebackhide__ = True
    name = _check_call(function, args, kwargs, key)
    _check_instant("at", at, within)
    matching = [r for r in run_history(docket) if _ran_as(r, name, args, kwargs, key, at, within)]
    if matching:
        expected = _criteria(function, args, kwargs, key, kwargs_exact=True) + _at_when(at, within)
        raise AssertionError(
            f"expected {expected} not to have run; it ran {_times(len(matching))}:\n"
            + describe_runs(matching)
        )
