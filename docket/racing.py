"""Racing awaitables, and cancelling the losers cleanly.

``first_of`` returns when the first of several awaitables ends (a future
is raced as it is; a coroutine gets a task), ``Signal`` is an ``asyncio.Event``
whose waits are plain futures (so racing one costs no task),
``until_deadline`` races work against a deadline on a docket ``Clock`` (not
the event loop's timer, so a ``VirtualClock`` controls it too), ``until_set``
races an event against the task that would set it, and ``cancel_and_wait``
stops helpers without re-raising their own cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    # Only named in hints: clock.py uses this module's Signal.
    from docket.clock import Clock

__all__ = ["Signal", "cancel_and_wait", "first_of", "until_deadline", "until_set"]

T = TypeVar("T")


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel ``tasks`` and wait until each has ended, never raising their cancellation.

    A helper's own ``CancelledError`` is what we asked for; re-raising it from
    the caller (as ``gather`` or awaiting the task does) makes it look like the
    caller's, and under anyio a cancellation its cancel scope did not send
    escapes the caller's ``__aexit__``.  Only a cancellation delivered to the
    caller itself propagates.  Helpers' other exceptions are retrieved (so
    none is reported as never retrieved) and not raised: whoever owns a
    helper logs its failures where they happen.
    """
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    # A plain future is done as soon as it is cancelled; only tasks need a
    # turn of the loop to unwind.
    pending = [task for task in pending if not task.done()]
    if pending:
        await asyncio.wait(pending)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()


async def first_of(*waits: Awaitable[Any] | Signal) -> None:
    """Return once any of ``waits`` finishes (or, for a ``Signal``, is set); the
    others are cancelled.

    An exception from the first to finish propagates.  Cancelling the caller
    cancels every wait.  A future in ``waits`` is raced as it is, with no
    task around it, so it must be the caller's own to cancel.  A ``Signal``
    wakes the caller directly, with neither a future of its own nor a turn
    of the loop in between.
    """
    # Taken on every wait of every worker loop, so spelled out for speed:
    # no comprehension, coroutine or callback more than the race needs.
    signals: list[Signal] = []
    futures: list[asyncio.Future[Any]] = []
    ready = False
    for wait in waits:
        if isinstance(wait, Signal):
            signals.append(wait)
            ready = ready or wait._flag
        else:
            future = wait if isinstance(wait, asyncio.Future) else asyncio.ensure_future(wait)
            futures.append(future)
            ready = ready or future.done()
    try:
        if not ready:
            winner: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def wake(_: asyncio.Future[Any]) -> None:
                if not winner.done():
                    winner.set_result(None)

            for signal in signals:
                signal.notify(winner)
            for future in futures:
                future.add_done_callback(wake)
            try:
                await winner
            finally:
                for future in futures:
                    future.remove_done_callback(wake)
        done = [future for future in futures if future.done()]
    finally:
        # Let cancellations settle so no task outlives this call unobserved
        # (cancel_and_wait, without a coroutine when only futures are left).
        unwinding: list[asyncio.Future[Any]] = []
        for future in futures:
            if not future.done():
                future.cancel()
                if not future.done():
                    unwinding.append(future)
        if unwinding:
            await asyncio.wait(unwinding)
        for future in futures:
            if future.done() and not future.cancelled():
                future.exception()
    for future in done:
        if not future.cancelled():
            future.result()


class Signal:
    """A flag to wait for, as ``asyncio.Event`` is, whose ``waiter`` is a plain future.

    ``set`` wakes every waiter and the flag stays set until ``clear``;
    waiting on a set flag returns at once, without yielding.
    """

    __slots__ = ("_flag", "_limit", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[asyncio.Future[None]] = []
        self._limit = 8

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._flag

    def set(self) -> None:
        """Set the flag and wake everyone waiting for it."""
        if self._flag:
            return
        self._flag = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                try:
                    waiter.set_result(None)
                except RuntimeError:
                    # Its event loop has closed: a signal can outlive one (the
                    # memory twin's, kept with its store); the others still wake.
                    pass

    def clear(self) -> None:
        """Unset the flag; waits started from now on wait for the next ``set``."""
        self._flag = False

    def waiter(self) -> asyncio.Future[None]:
        """A new future that completes when the flag is set (at once if it is).

        Cancelling it only stops that one wait.
        """
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._flag:
            waiter.set_result(None)
        else:
            self.notify(waiter)
        return waiter

    def notify(self, future: asyncio.Future[None]) -> None:
        """Complete ``future`` (result None) when the flag is next set, unless it is
        done by then; the flag must be unset now."""
        if len(self._waiters) >= self._limit:
            # Forget waits that ended otherwise, at a cost that stays linear.
            self._waiters = [w for w in self._waiters if not w.done()]
            self._limit = max(8, 2 * len(self._waiters))
        self._waiters.append(future)

    async def wait(self) -> None:
        """Return once the flag is set (at once, without yielding, if it is)."""
        await self.waiter()

    def __await__(self) -> Generator[Any, None, None]:
        """Awaiting a signal is ``wait()``: a signal is an awaitable, to hand out as one."""
        return self.waiter().__await__()


async def until_deadline(
    work: Coroutine[Any, Any, T], clock: Clock, deadline: datetime | None
) -> T:
    """Await ``work``; raise TimeoutError if ``clock`` reaches ``deadline`` first."""
    if deadline is None:
        return await work
    task = asyncio.ensure_future(work)
    timer = asyncio.ensure_future(clock.sleep_until(deadline))
    try:
        await asyncio.wait([task, timer], return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(timer)
        if not task.done():
            await cancel_and_wait(task)
    if task.cancelled():
        raise TimeoutError(f"deadline {deadline.isoformat()} passed")
    return task.result()


async def until_set(event: asyncio.Event, task: asyncio.Future[Any]) -> None:
    """Wait for ``event``, or for ``task`` (which would set it) to end first.

    The task itself is left running; its outcome is the caller's to read.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(waiter)
