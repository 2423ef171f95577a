"""Racing awaitables, and cancelling the losers cleanly.

``first_of`` returns when the first of several awaitables ends,
``until_deadline`` races work against a deadline on a docket ``Clock`` (not
the event loop's timer, so a ``VirtualClock`` controls it too), ``until_set``
races an event against the task that would set it, and ``cancel_and_wait``
stops helpers without re-raising their own cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from docket.clock import Clock

__all__ = ["cancel_and_wait", "first_of", "until_deadline", "until_set"]

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
    if pending:
        await asyncio.wait(pending)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()


async def first_of(*waits: Awaitable[Any]) -> None:
    """Return once any of ``waits`` finishes; the others are cancelled.

    An exception from the first to finish propagates.  Cancelling the caller
    cancels every wait.
    """
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Let cancellations settle so no task outlives this call unobserved.
        await cancel_and_wait(*tasks)
    for task in done:
        task.result()


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
