"""Abandoning running work: the stop that does not wait (a second Ctrl-C).

A worker asked to abandon (``Worker.abandon``), or cancelled again while it
drains, cancels every run still going instead of waiting for it, and hands
those deliveries back to the queue so another worker takes them at once
rather than when their leases expire.  This module keeps which runs were
given up on (a run that ignores its cancellation may still be going; the CLI
exits past it) and does the hand-back, which repeated cancellations of the
caller do not interrupt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence

__all__ = ["Abandonment"]


class Abandonment:
    """The runs one worker gave up on while leaving, and their deliveries."""

    def __init__(self) -> None:
        self.requested = False
        """The coming cancellation of the worker means: abandon, do not wait."""
        self.tasks: list[asyncio.Task[None]] = []
        """Runs given up on; one still not done ignored its cancellation."""
        self._deliveries: list[str] = []

    def reset(self) -> None:
        """Forget earlier abandonments (the worker is entered anew)."""
        self.requested = False
        self.tasks = []
        self._deliveries = []

    def cancel(self, running: Mapping[str, asyncio.Task[None]]) -> None:
        """Cancel every run in ``running`` (delivery to its task) and note it.

        Called again, it adds: runs cancelled before may have left ``running``
        since, and their deliveries must still be handed back.
        """
        for delivery, task in running.items():
            if task not in self.tasks:
                self._deliveries.append(delivery)
                self.tasks.append(task)
            task.cancel()

    async def hand_back(self, release: Callable[[Sequence[str]], Awaitable[None]]) -> None:
        """Give the abandoned runs' deliveries back through ``release``.

        Abandoned runs wrote no outcome; one that did finish has already
        acknowledged its delivery, and handing that back changes nothing.
        """
        deliveries, self._deliveries = self._deliveries, []
        if not deliveries:
            return
        handing_back = asyncio.ensure_future(release(deliveries))
        while not handing_back.done():
            # The caller may go on cancelling (it is abandoning work): the
            # hand-back, one round trip, is let finish all the same.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([handing_back])
