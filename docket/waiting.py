"""Waiting for the first of several things, with deadlines on a docket clock.

asyncio's own timeouts run on the event loop's timer; docket's deadlines must
run on its ``Clock`` so that a ``VirtualClock`` controls them too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from docket.clock import Clock

__all__ = ["first_of", "until_deadline"]

T = TypeVar("T")


async def first_of(*waits: Awaitable[Any]) -> None:
    """Return once any of ``waits`` finishes; the others are cancelled.

    An exception from the first to finish propagates.  Cancelling the caller
    cancels every wait.
    """
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        # Let cancellations settle so no task outlives this call unobserved.
        await asyncio.gather(*tasks, return_exceptions=True)
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
        timer.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(timer, return_exceptions=True)
    if task.cancelled() or not task.done():
        await asyncio.gather(task, return_exceptions=True)
        raise TimeoutError(f"deadline {deadline.isoformat()} passed")
    return task.result()
