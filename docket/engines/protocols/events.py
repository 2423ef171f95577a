"""The event operations of the engine seam: a key's state and progress, and cancellations.

Listeners are active once their context is entered, so a caller that enters
one and then reads storage cannot miss a change.  Events are not stored: a
listener hears only what happens while it listens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from docket.engines.records import Cancellation, Event, ProgressState, ProgressUpdate

__all__ = ["EventOperations"]


class EventOperations(Protocol):
    """Publishing progress, and listening to a key's events and to cancellations."""

    def subscribe(self, key: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Listen to the key's state and progress events.

        The subscription is active once the context is entered, so a caller
        that enters it and then reads the record cannot miss a change.
        """
        ...

    async def report_progress(
        self, key: str, generation: int, update: ProgressUpdate
    ) -> ProgressState | None:
        """Apply ``update`` to the progress of the RUNNING execution ``key`` at
        ``generation`` and publish a ProgressChange; None (and no change) if the
        key is not running at that generation."""
        ...

    def watch_cancellations(self) -> AbstractAsyncContextManager[AsyncIterator[Cancellation]]:
        """Yield a ``Cancellation`` each time ``cancel`` ends running work of this docket.

        Every listener of the docket hears every notice (a worker keeps
        those naming it).  Active once the context is entered: a cancel made
        after entering returns is heard.  Notices are not stored; one missed
        (a lost connection) is caught by ``renew``, which reports the
        cancelled delivery lost.
        """
        ...
