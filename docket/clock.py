"""The clock seam: the only place in docket that reads time or sleeps.

Every time-based decision in docket (due-ness, leases, retry delays, record
expiry, timeouts) asks a ``Clock``.  ``SystemClock`` is the production default;
``VirtualClock`` only moves when told to, which lets a test of "remind them in
30 days" run in milliseconds on either engine.  Converting and rounding time
values (UTC, whole milliseconds, durations) is ``timeutil.py``'s job.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, runtime_checkable

from docket.racing import Signal
from docket.timeutil import truncate_to_ms, utc

__all__ = [
    "DEFAULT_SKIP_LIMIT",
    "Clock",
    "SystemClock",
    "VirtualClock",
    "Deadline",
    "sleeping",
    "sleeping_until",
]


@runtime_checkable
class Clock(Protocol):
    """What docket needs from time.

    ``now()`` is an aware UTC datetime used for schedules and records;
    ``monotonic()`` is a float in seconds for measuring durations;
    ``sleep`` and ``sleep_until`` suspend the caller on this clock's time line.
    """

    def now(self) -> datetime:
        """The current time, as an aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend until ``seconds`` have passed on this clock."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Suspend until ``now() >= when``."""
        ...


class SystemClock:
    """The wall clock and asyncio's event loop timer."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: datetime) -> None:
        await asyncio.sleep(max(0.0, (when - self.now()).total_seconds()))

    def __repr__(self) -> str:
        return "SystemClock()"


DEFAULT_SKIP_LIMIT = timedelta(days=366)
"""How much virtual time one ``run_until_finished`` may skip by default."""


class Deadline:
    """A time a ``VirtualClock`` stops at while ``waiting`` is pending (``add_deadline``).

    ``due`` may be moved by its owner; ``waiting`` is the wait it belongs to.
    """

    __slots__ = ("due", "waiting")

    def __init__(self, due: datetime, waiting: asyncio.Future[None]) -> None:
        self.due = due
        self.waiting = waiting


class VirtualClock:
    """A clock that moves when ``advance`` or ``advance_to`` is called, or by
    itself when a worker has nothing to do but wait for it.

    Sleepers are kept in a heap and woken in deadline order (ties in the order
    they started sleeping) when time passes their deadline.  ``start`` defaults
    to the current wall-clock time, truncated to whole milliseconds so that
    schedules round-trip exactly through millisecond-resolution storage.

    ``skip_idle_time`` (on by default): a worker on this clock whose every
    run is asleep on it, or that has nothing running and waits for work due
    later, moves the clock to the next deadline itself instead of waiting
    for ever (``docket.worker.time_skipping``).  Turn it off for a test that
    moves time by hand while a worker runs in the background.
    ``skip_limit`` bounds how much virtual time one ``run_until_finished``
    may skip: work that keeps coming past it (a ``Perpetual`` with no end)
    raises ``RunsForever`` naming the work, where it would otherwise never end.
    """

    def __init__(
        self,
        start: datetime | None = None,
        *,
        skip_idle_time: bool = True,
        skip_limit: timedelta = DEFAULT_SKIP_LIMIT,
    ) -> None:
        if start is None:
            start = truncate_to_ms(datetime.now(timezone.utc))
        elif start.tzinfo is None:
            raise ValueError(f"start must be timezone-aware, got {start!r}")
        if not isinstance(skip_idle_time, bool):
            raise TypeError(f"skip_idle_time must be True or False, got {skip_idle_time!r}")
        if not isinstance(skip_limit, timedelta) or skip_limit <= timedelta(0):
            raise ValueError(f"skip_limit must be a positive timedelta, got {skip_limit!r}")
        self._now = utc(start)
        self._origin = self._now
        self._elapsed = 0.0
        """``monotonic()``, worked out when time moves rather than on every read."""
        self.skip_idle_time = skip_idle_time
        """Whether workers on this clock move it when they would only wait for it."""
        self.skip_limit = skip_limit
        """The most virtual time one ``run_until_finished`` skips before it gives up."""
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._listeners: list[Callable[[datetime], None]] = []
        self._stops: list[Deadline] = []
        """Deadlines added with ``add_deadline``, checked as time moves."""
        self._asleep: dict[asyncio.Task[object], asyncio.Future[None]] = {}
        self._waiting_on: dict[asyncio.Task[object], tuple[asyncio.Future[Any], ...]] = {}
        self._sleep_started = Signal()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + timedelta(seconds=max(0.0, seconds)))

    async def sleep_until(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError(f"when must be timezone-aware, got {when!r}")
        if when <= self._now:
            # Still yield, as asyncio.sleep(0) does, so loops that sleep on
            # an elapsed deadline cannot starve the event loop.
            await asyncio.sleep(0)
            return
        future = self._alarm(when)
        task = asyncio.current_task()
        if task is not None:
            self._asleep[task] = future
        try:
            await future
        finally:
            if task is not None and self._asleep.get(task) is future:
                del self._asleep[task]

    def alarm(self, when: datetime) -> asyncio.Future[None]:
        """A future that completes once this clock reaches ``when`` (at once if it has).

        ``sleep_until`` without a task: racing it (``first_of``) costs no task.
        Cancelling it only stops that one wait.  Unlike a ``sleep_until``, the
        caller does not count as asleep for time skipping.
        """
        if when.tzinfo is None:
            raise ValueError(f"when must be timezone-aware, got {when!r}")
        if when <= self._now:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future
        return self._alarm(when)

    def _alarm(self, when: datetime) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if when.tzinfo is not timezone.utc:
            when = utc(when)
        heapq.heappush(self._sleepers, (when, next(self._order), future))
        self._sleep_started.set()
        return future

    def advance(self, delta: timedelta | float) -> datetime:
        """Move time forward by ``delta`` (a timedelta or seconds); return the new now."""
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError(f"delta must not be negative, got {delta!r}")
        return self.advance_to(self._now + timedelta(seconds=seconds))

    def advance_to(self, when: datetime) -> datetime:
        """Move time forward to ``when``; moving backwards raises ValueError."""
        if when.tzinfo is None:
            raise ValueError(f"when must be timezone-aware, got {when!r}")
        if when.tzinfo is not timezone.utc:
            when = utc(when)
        if when < self._now:
            raise ValueError(f"when must not be before now ({self._now.isoformat()}), got {when!r}")
        self._now = when
        self._elapsed = (when - self._origin).total_seconds()
        # Listeners (an application clock that follows this one) move first,
        # so the sleepers woken below see the new time everywhere.
        for listener in list(self._listeners):
            listener(when)
        while self._sleepers and self._sleepers[0][0] <= when:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
        return self._now

    def on_move(self, listener: Callable[[datetime], None]) -> Callable[[], None]:
        """Call ``listener(now)`` each time this clock moves; returns its remover.

        The listener runs inside ``advance``/``advance_to``, after ``now`` has
        changed and before any sleeper wakes, so it must not block or raise.
        """
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def asleep(self, task: asyncio.Task[object]) -> bool:
        """Whether ``task`` is suspended in ``sleep``/``sleep_until`` on this clock now,
        or waits (see ``waits_for``) only on tasks that all are, or are done."""
        future = self._asleep.get(task)
        if future is not None:
            return not future.done()
        children = self._waiting_on.get(task)
        if children is None:
            return False
        pending = [child for child in children if not child.done()]
        return bool(pending) and all(
            isinstance(child, asyncio.Task) and self.asleep(child) for child in pending
        )

    @contextmanager
    def waits_for(self, *children: asyncio.Future[Any]) -> Iterator[None]:
        """While the block lasts, the current task waits on ``children`` alone.

        It then counts as asleep whenever they are all asleep on this clock,
        so a worker skipping idle time sees through a task that races its
        body against a deadline (``Timeout``) or gathers sleepers.
        """
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._waiting_on[task] = children
        try:
            yield
        finally:
            if self._waiting_on.get(task) is children:
                del self._waiting_on[task]

    async def sleep_started(self) -> None:
        """Return the next time anyone starts sleeping on this clock."""
        await self.sleep_starting()

    def sleep_starting(self) -> asyncio.Future[None]:
        """A future that completes the next time anyone starts sleeping on this clock."""
        self._sleep_started.clear()
        return self._sleep_started.waiter()

    def add_deadline(self, deadline: Deadline) -> None:
        """Count ``deadline`` as a time to stop at while its ``waiting`` future is pending.

        For a wait that is not a sleeper (no alarm of its own): time skipping
        then stops at ``deadline.due``, which its owner may move later (and
        should then call ``deadlines_moved``).
        """
        self._stops.append(deadline)
        self._sleep_started.set()

    def remove_deadline(self, deadline: Deadline) -> None:
        """Stop counting ``deadline`` (see ``add_deadline``); a deadline not added is ignored."""
        if deadline in self._stops:
            self._stops.remove(deadline)

    def deadlines_moved(self) -> None:
        """Tell time skipping that a deadline was set or moved, as a new sleeper would."""
        self._sleep_started.set()

    def next_deadline(self) -> datetime | None:
        """The earliest deadline anyone is sleeping until, if any."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        earliest = self._sleepers[0][0] if self._sleepers else None
        for stop in self._stops:
            if not stop.waiting.done() and (earliest is None or stop.due < earliest):
                earliest = stop.due
        return earliest

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now.isoformat()})"


def sleeping(clock: Clock, seconds: float) -> Awaitable[None]:
    """``clock.sleep(seconds)`` to race with other waits (``first_of``).

    On a ``VirtualClock`` it is a plain future (``VirtualClock.alarm``), so
    racing it costs no task; on any other clock, or for a time already
    reached (which must still yield, as ``sleep`` does), the coroutine.
    """
    if isinstance(clock, VirtualClock):
        return sleeping_until(clock, clock.now() + timedelta(seconds=max(0.0, seconds)))
    return clock.sleep(seconds)


def sleeping_until(clock: Clock, when: datetime) -> Awaitable[None]:
    """``clock.sleep_until(when)`` to race with other waits, as ``sleeping`` is."""
    if isinstance(clock, VirtualClock) and when > clock.now():
        return clock.alarm(when)
    return clock.sleep_until(when)
