"""Agenda: collect task calls, then spread them evenly over a stretch of time.

This module owns ``Agenda`` (and ``AgendaCall``, the record of one collected
call).  An agenda only records; ``scatter`` hands each call to
``Docket.add`` with a ``when`` chosen so that the calls are spaced evenly
over ``over``, optionally jittered.  Time comes from the docket's clock.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from docket.docket import Docket, TaskFunction
from docket.execution import Execution
from docket.scheduling import check_key, check_when

__all__ = ["Agenda", "AgendaCall"]


@dataclass(frozen=True)
class AgendaCall:
    """One recorded call: a task (function or registered name), its arguments and key.

    ``key`` is the key the call is scheduled under, or None for a fresh UUID.
    """

    function: TaskFunction | str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    key: str | None = None


class Agenda:
    """An ordered collection of task calls to be scheduled together.

    ``len(agenda)`` is the number of recorded calls; iterating yields them as
    ``AgendaCall`` objects in the order they were recorded.
    """

    def __init__(self) -> None:
        self._calls: list[AgendaCall] = []

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[AgendaCall]:
        return iter(self._calls)

    def add(self, function: TaskFunction | str, key: str | None = None) -> Callable[..., None]:
        """Return a callable that records a call of ``function`` with its arguments.

        ``function`` is a task function or the name of a task registered with
        the docket it will be scattered to; names are resolved by ``scatter``.
        ``key``, when given, is the key the call is scheduled under, which
        makes scattering the same agenda again a no-op for that call while its
        work is live.  Nothing is scheduled until ``scatter``.
        """
        if isinstance(function, str):
            if not function:
                raise ValueError(f"function must be a callable or a task name, got {function!r}")
        elif not callable(function):
            raise TypeError(f"function must be a callable or a task name, got {function!r}")
        check_key(key)

        def record(*args: Any, **kwargs: Any) -> None:
            self._calls.append(AgendaCall(function, args, dict(kwargs), key))

        return record

    def clear(self) -> None:
        """Forget every recorded call."""
        self._calls.clear()

    async def scatter(
        self,
        docket: Docket,
        over: timedelta,
        start: datetime | None = None,
        jitter: timedelta | None = None,
    ) -> list[Execution]:
        """Schedule every recorded call on ``docket``, spread evenly over ``over``.

        ``start`` (an aware datetime) defaults to ``docket.clock.now()``.  A
        single call goes at ``start + over / 2``; n calls go at
        ``start + over * i / (n - 1)`` for i in 0..n-1, so the first is at
        ``start`` and the last at ``start + over``.  ``jitter`` moves each time
        by a uniform random offset in ``[-jitter, +jitter]``, never to before
        ``start``.

        Every call is resolved and checked before any is scheduled: an
        unregistered name raises the docket's ``UnknownTaskError`` (a
        ``KeyError``) and bad arguments raise ``TypeError``, with nothing
        scheduled.  The calls are then added one by one in recording order;
        the returned executions carry each ``disposition`` (ALREADY_SCHEDULED
        for a key whose work is still live).  An empty agenda returns ``[]``.
        """
        if not isinstance(over, timedelta):
            raise TypeError(f"over must be a timedelta, got {over!r}")
        if over <= timedelta(0):
            raise ValueError(f"over must be a positive duration, got {over!r}")
        check_when(start, "start")
        if jitter is not None:
            if not isinstance(jitter, timedelta):
                raise TypeError(f"jitter must be a timedelta or None, got {jitter!r}")
            if jitter < timedelta(0):
                raise ValueError(f"jitter must not be negative, got {jitter!r}")
        if not self._calls:
            return []

        if start is None:
            start = docket.clock.now()
        count = len(self._calls)
        if count == 1:
            times = [start + over / 2]
        else:
            times = [start + over * i / (count - 1) for i in range(count)]
        if jitter:
            times = [max(start, when + jitter * random.uniform(-1.0, 1.0)) for when in times]

        # Docket.add and the callable it returns check the task name, the key
        # and the arguments before returning the awaitable that schedules, so
        # building every awaitable first means a refused call (an unknown name,
        # say) leaves nothing scheduled.  Closing them afterwards drops those
        # never awaited without a "coroutine was never awaited" warning.
        pending: list[Awaitable[Execution]] = []
        try:
            for call, when in zip(self._calls, times, strict=True):
                schedule = docket.add(call.function, when=when, key=call.key)
                pending.append(schedule(*call.args, **call.kwargs))
            return [await scheduling for scheduling in pending]
        finally:
            for scheduling in pending:
                if inspect.iscoroutine(scheduling):
                    scheduling.close()
