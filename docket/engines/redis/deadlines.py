"""Bounding commands in time: one timer per engine's clients, not one per command.

Python 3.11 and later (``Task.cancelling``); ``connections.py`` falls back to
``async_timeout`` before that.

``asyncio.timeout`` arms a timer for each use (a handle pushed on the event
loop's heap, cancelled when the command ends): some 6 µs on every add and
every script a worker runs.  Every command of an engine is bounded by the same
number of seconds, so deadlines fall in the order commands start.
``Deadlines`` keeps the commands in flight in that order and one timer, set
for the oldest.  When it fires, each command past its deadline has its task
cancelled and raises ``TimeoutError``, with ``asyncio.timeout``'s own
bookkeeping: a cancellation from anywhere else stays a ``CancelledError``,
and nested bounds unwind as nested ``asyncio.timeout`` blocks do.  The timer
is then set for the next oldest.  A command that ends only leaves the
collection; the timer is left alone, and finding nothing due when it fires,
is set again.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["Bound", "Deadlines"]


def _now(loop: asyncio.AbstractEventLoop) -> float:
    """The event loop's clock, which its timers keep (as ``asyncio.timeout`` reads it):
    a network deadline, not docket time."""
    return loop.time()


class Deadlines:
    """The commands in flight under a bound of ``seconds``, and the one timer for them."""

    __slots__ = ("_loop", "_open", "_timer", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        # Insertion order is deadline order: every bound is start + seconds.
        self._open: dict[Bound, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bound(self) -> Bound:
        """A context that bounds one command (``async with``), like ``asyncio.timeout``."""
        return Bound(self)

    def close(self) -> None:
        """Drop the timer (the clients are closing)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop = None

    def _start(self, bound: Bound, loop: asyncio.AbstractEventLoop) -> None:
        self._open[bound] = None
        if self._timer is None or self._loop is not loop:
            self._arm(loop, bound.when)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._loop = loop
        self._timer = loop.call_at(when, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            return  # a timer of a loop these clients no longer run on
        self._timer = None
        now = _now(loop)
        # A copy: an expired bound stays until its command unwinds.
        for bound in list(self._open):
            if bound.when > now:
                self._arm(loop, bound.when)
                return
            if not bound.expired:
                bound.expired = True
                bound.task.cancel()


class Bound:
    """One command's deadline: ``asyncio.timeout(seconds)``, timed by its ``Deadlines``."""

    __slots__ = ("_cancelling", "_deadlines", "expired", "task", "when")

    def __init__(self, deadlines: Deadlines) -> None:
        self._deadlines = deadlines
        self.expired = False

    async def __aenter__(self) -> Bound:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a command deadline must be used inside a task")
        self.task = task
        self._cancelling: int = task.cancelling()  # type: ignore[attr-defined,unused-ignore]
        self.when = _now(loop) + self._deadlines.seconds
        self._deadlines._start(self, loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._deadlines._open.pop(self, None)
        # As asyncio.timeout: the cancellation this bound made becomes a
        # TimeoutError, unless another one is pending too.
        if (
            self.expired
            and self.task.uncancel() <= self._cancelling  # type: ignore[attr-defined,unused-ignore]
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc
