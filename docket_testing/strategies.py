"""Hypothesis strategies for docket schedules and sequences of docket operations.

Values come in the shapes docket stores exactly, so a property can compare
what it scheduled with what it reads back:

* ``schedule_times(base)``: aware UTC datetimes near ``base``, at a
  resolution (default one millisecond, what storage keeps);
* ``delays()``: timedeltas at such a resolution, negative ones meaning "in the past";
* ``clock_starts()``: starting instants for a ``VirtualClock``;
* ``task_keys()``: task keys, arbitrary or drawn from a small pool so that
  operations collide on purpose;
* ``json_values()`` and ``task_arguments()``: JSON-like arguments (finite
  floats, string dictionary keys), which every codec round-trips and ``==``
  compares;
* ``operations()`` and ``operation_sequences()``: ``Add``, ``Replace``,
  ``Cancel``, ``Advance`` and ``RunDue`` steps, which ``apply_operation``
  performs on a docket.

Requires Hypothesis (``pip install hypothesis``); nothing else in
``docket_testing`` imports this module.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeAlias

from hypothesis import strategies as st

from docket import Docket, Execution
from docket_testing.helpers import advance, run_due

__all__ = [
    "JSON",
    "Add",
    "Advance",
    "Cancel",
    "Operation",
    "Replace",
    "RunDue",
    "apply_operation",
    "clock_starts",
    "delays",
    "json_values",
    "operation_sequences",
    "operations",
    "schedule_times",
    "task_arguments",
    "task_keys",
]

JSON: TypeAlias = "None | bool | int | float | str | list[JSON] | dict[str, JSON]"
"""A JSON-like value: what ``json_values`` draws."""

MILLISECOND = timedelta(milliseconds=1)


def _steps(span: timedelta, resolution: timedelta, rounding: Any) -> int:
    return int(rounding(span / resolution))


def _check_resolution(resolution: timedelta) -> None:
    if not isinstance(resolution, timedelta) or resolution <= timedelta(0):
        raise ValueError(f"resolution must be a positive timedelta, got {resolution!r}")
    if resolution % MILLISECOND:
        raise ValueError(
            f"resolution must be whole milliseconds (storage keeps no finer), got {resolution!r}"
        )


def delays(
    *,
    earliest: timedelta = timedelta(0),
    latest: timedelta = timedelta(days=1),
    resolution: timedelta = MILLISECOND,
) -> st.SearchStrategy[timedelta]:
    """Timedeltas in ``[earliest, latest]``, multiples of ``resolution``.

    Negative ones are allowed (``earliest=timedelta(seconds=-5)``): added to
    now they give work that is already due.  A coarse ``resolution`` makes
    equal due times (ties) likely.  Shrinks towards zero.
    """
    _check_resolution(resolution)
    if latest < earliest:
        raise ValueError(f"latest ({latest!r}) must not be before earliest ({earliest!r})")
    low = _steps(earliest, resolution, math.ceil)
    high = _steps(latest, resolution, math.floor)
    if high < low:
        raise ValueError(f"no multiple of {resolution!r} lies in [{earliest!r}, {latest!r}]")
    return st.integers(min_value=low, max_value=high).map(lambda n: n * resolution)


def schedule_times(
    base: datetime,
    *,
    earliest: timedelta = timedelta(0),
    latest: timedelta = timedelta(days=1),
    resolution: timedelta = MILLISECOND,
) -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes in ``[base + earliest, base + latest]``, ``resolution`` apart.

    ``base`` must be timezone-aware; with a ``base`` on a whole millisecond
    (as ``VirtualClock`` starts) every value round-trips through storage
    exactly.  Shrinks towards ``base``.
    """
    if not isinstance(base, datetime) or base.tzinfo is None or base.utcoffset() is None:
        raise ValueError(f"base must be a timezone-aware datetime, got {base!r}")
    origin = base.astimezone(timezone.utc)
    return delays(earliest=earliest, latest=latest, resolution=resolution).map(
        lambda delta: origin + delta
    )


def clock_starts(
    *,
    min_value: datetime = datetime(2000, 1, 1, tzinfo=timezone.utc),
    max_value: datetime = datetime(2099, 12, 31, tzinfo=timezone.utc),
) -> st.SearchStrategy[datetime]:
    """Aware UTC instants on whole milliseconds: starts for ``VirtualClock(start=...)``.

    Useful for properties of calendars (cron, month ends, leap days) that
    must hold whenever a test starts.
    """
    for name, value in (("min_value", min_value), ("max_value", max_value)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    low = min_value.astimezone(timezone.utc)
    return schedule_times(low, latest=max_value.astimezone(timezone.utc) - low)


def task_keys(*, pool: Sequence[str] | None = None, max_size: int = 40) -> st.SearchStrategy[str]:
    """Task keys: non-empty strings, or members of ``pool``.

    A small pool (``pool=["a", "b", "c"]``) makes operations meet on the same
    key, which is where add/replace/cancel semantics live.
    """
    if pool is not None:
        chosen = list(pool)
        if not chosen or not all(isinstance(k, str) and k for k in chosen):
            raise ValueError(f"pool must hold non-empty strings, got {pool!r}")
        return st.sampled_from(chosen)
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, got {max_size!r}")
    return st.text(min_size=1, max_size=max_size)


def json_values(*, max_leaves: int = 8) -> st.SearchStrategy[JSON]:
    """JSON-like values: None, booleans, integers, finite floats, text, lists, dicts.

    Integers stay within JSON's safe range (±2**53) and dictionary keys are
    strings, so values mean the same in any language a task might be
    ported to.
    """
    scalars: st.SearchStrategy[JSON] = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    )

    def containers(children: st.SearchStrategy[JSON]) -> st.SearchStrategy[JSON]:
        return st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=10), children, max_size=4),
        )

    return st.recursive(scalars, containers, max_leaves=max_leaves)


def _identifiers() -> st.SearchStrategy[str]:
    return st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
        lambda name: not keyword.iskeyword(name)
    )


def task_arguments(
    *, max_args: int = 3, max_kwargs: int = 3, values: st.SearchStrategy[JSON] | None = None
) -> st.SearchStrategy[tuple[tuple[JSON, ...], dict[str, JSON]]]:
    """``(args, kwargs)`` pairs of JSON-like values; keyword names are identifiers."""
    drawn = values if values is not None else json_values()
    return st.tuples(
        st.lists(drawn, max_size=max_args).map(tuple),
        st.dictionaries(_identifiers(), drawn, max_size=max_kwargs),
    )


# -- operations -----------------------------------------------------------


@dataclass(frozen=True)
class Add:
    """``docket.add(function, when=now + delay, key=key)(*args, **kwargs)``; no key means a fresh one."""

    key: str | None
    delay: timedelta
    args: tuple[JSON, ...] = ()
    kwargs: Mapping[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class Replace:
    """``docket.replace(function, when=now + delay, key=key)(*args, **kwargs)``."""

    key: str
    delay: timedelta
    args: tuple[JSON, ...] = ()
    kwargs: Mapping[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class Cancel:
    """``docket.cancel(key)``."""

    key: str


@dataclass(frozen=True)
class Advance:
    """``advance(docket, delta)``: move virtual time, running what comes due."""

    delta: timedelta


@dataclass(frozen=True)
class RunDue:
    """``run_due(docket)``: run what is due now, without moving time."""


Operation: TypeAlias = "Add | Replace | Cancel | Advance | RunDue"
"""One step of an operation sequence."""


def operations(
    *,
    keys: st.SearchStrategy[str] | None = None,
    when: st.SearchStrategy[timedelta] | None = None,
    arguments: st.SearchStrategy[tuple[tuple[JSON, ...], dict[str, JSON]]] | None = None,
    advances: st.SearchStrategy[timedelta] | None = None,
) -> st.SearchStrategy[Operation]:
    """Single operations.

    ``keys`` defaults to a pool of three keys (so operations collide),
    ``when`` to delays from -1 s to 1 h in whole seconds (ties are likely),
    ``arguments`` to ``task_arguments()``, ``advances`` to 0 s to 1 h in whole
    seconds.  ``Add`` leaves the key out one time in five.
    """
    keys = keys if keys is not None else task_keys(pool=("a", "b", "c"))
    when = (
        when
        if when is not None
        else delays(
            earliest=timedelta(seconds=-1),
            latest=timedelta(hours=1),
            resolution=timedelta(seconds=1),
        )
    )
    arguments = arguments if arguments is not None else task_arguments()
    advances = (
        advances
        if advances is not None
        else delays(latest=timedelta(hours=1), resolution=timedelta(seconds=1))
    )
    optional_keys = st.one_of(st.none(), keys, keys, keys, keys)
    adds = st.builds(
        lambda key, delay, call: Add(key, delay, call[0], call[1]), optional_keys, when, arguments
    )
    replaces = st.builds(
        lambda key, delay, call: Replace(key, delay, call[0], call[1]), keys, when, arguments
    )
    return st.one_of(
        adds,
        replaces,
        st.builds(Cancel, keys),
        st.builds(Advance, advances),
        st.just(RunDue()),
    )


def operation_sequences(
    *, min_size: int = 0, max_size: int = 20, **options: Any
) -> st.SearchStrategy[list[Operation]]:
    """Lists of ``operations(**options)``."""
    return st.lists(operations(**options), min_size=min_size, max_size=max_size)


async def apply_operation(
    docket: Docket,
    function: Callable[..., Any] | str,
    operation: Operation,
    *,
    raise_errors: bool = True,
) -> Execution | list[Execution] | None:
    """Perform ``operation`` on ``docket`` with task ``function`` (a callable or name).

    Returns what the underlying call returns: the ``Execution`` of an
    ``Add``/``Replace``, the runs of an ``Advance``/``RunDue`` (see
    ``run_due``), None for a ``Cancel``.  ``Advance`` needs a ``VirtualClock``.
    """
    if isinstance(operation, Add):
        when = docket.clock.now() + operation.delay
        schedule = docket.add(function, when=when, key=operation.key)
        return await schedule(*operation.args, **operation.kwargs)
    if isinstance(operation, Replace):
        when = docket.clock.now() + operation.delay
        schedule = docket.replace(function, when=when, key=operation.key)
        return await schedule(*operation.args, **operation.kwargs)
    if isinstance(operation, Cancel):
        await docket.cancel(operation.key)
        return None
    if isinstance(operation, Advance):
        return await advance(docket, operation.delta, raise_errors=raise_errors)
    if isinstance(operation, RunDue):
        return await run_due(docket, raise_errors=raise_errors)
    raise TypeError(
        f"operation must be an Add, Replace, Cancel, Advance or RunDue, got {operation!r}"
    )
