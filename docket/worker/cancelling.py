"""Interrupting one worker's runs that ``Docket.cancel`` reached while they ran.

``Docket.cancel`` on running work ends its record CANCELLED at once and sends
the worker holding it a notice (see ``Engine.watch_cancellations``).  This
module owns what the worker does with a notice: a run whose body is going gets
``CancelledError`` inside the task, as pydocket's does; a delivery the worker
holds but has not started is skipped when its turn comes.

A slot runs one delivery after another in a single task, so cancelling the
task is only safe while the body of the named delivery is what that task is
awaiting: ``begin`` and ``end`` mark exactly that span, and a notice for any other
moment only marks the delivery to skip.  A cancellation that asyncio counts
against the task is taken back (``uncancel``) once handled, so a stop
request that arrives alongside still stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from docket.worker.event_log import looks_like_outage

if TYPE_CHECKING:
    from docket.clock import Clock
    from docket.engines.base import Cancellation, Engine

__all__ = ["RunCancellations", "RunCancelled", "follow_notices"]

logger = logging.getLogger("docket.worker")


class RunCancelled(Exception):
    """A run's body was interrupted because its work was cancelled."""


class RunCancellations:
    """The runs of one worker that a cancellation may interrupt, and those it did."""

    def __init__(self) -> None:
        # delivery -> (the task awaiting its body, its key, the generation it runs)
        self._bodies: dict[str, tuple[asyncio.Task[Any], str, int]] = {}
        self._interrupting: set[str] = set()
        self._skip: set[str] = set()

    def request(self, delivery: str, generation: int, held: bool) -> None:
        """Act on a notice that ``delivery``'s run of ``generation`` was cancelled.

        ``held`` says the worker holds the delivery without its body going
        yet (claimed and waiting for a slot, or just starting).
        """
        running = self._bodies.get(delivery)
        if running is None:
            if held:
                self._skip.add(delivery)
            return
        task, _, running_generation = running
        if running_generation != generation or delivery in self._interrupting:
            return
        self._interrupting.add(delivery)
        task.cancel()

    def take_skip(self, delivery: str) -> bool:
        """Whether ``delivery`` was cancelled before its run began (asked once)."""
        if delivery in self._skip:
            self._skip.discard(delivery)
            return True
        return False

    def running(self, delivery: str) -> tuple[str, int] | None:
        """The key and generation whose body is running for ``delivery``, if one is."""
        running = self._bodies.get(delivery)
        return None if running is None else running[1:]

    def begin(self, delivery: str, key: str, generation: int) -> None:
        """Mark the start of the span in which ``delivery``'s body runs in the current task."""
        task = asyncio.current_task()
        assert task is not None
        self._bodies[delivery] = (task, key, generation)

    def interrupted(self, delivery: str) -> bool:
        """Called with a ``CancelledError`` from the body in hand: True if a notice for
        ``delivery`` caused it and nothing else asks the task to stop (then the
        run is recorded cancelled and the slot carries on); False: re-raise it."""
        if delivery not in self._interrupting:
            return False
        self._interrupting.discard(delivery)
        task, _, _ = self._bodies[delivery]
        return _uncancel(task) == 0

    def end(self, delivery: str) -> None:
        """Mark the end of ``delivery``'s body span (however it ended)."""
        task, _, _ = self._bodies.pop(delivery)
        if delivery in self._interrupting:
            # The body swallowed the cancellation, or ended before it landed.
            self._interrupting.discard(delivery)
            _uncancel(task)

    def clear(self) -> None:
        """Forget skipped deliveries (the worker is stopping; its holdings go back)."""
        self._skip.clear()


async def follow_notices(
    engine: Engine,
    worker: str,
    on_notice: Callable[[Cancellation], None],
    ready: asyncio.Event,
    clock: Clock,
    retry_delay: timedelta,
) -> None:
    """Hand ``on_notice`` every cancellation notice for ``worker``'s deliveries, for ever.

    ``ready`` is set once the first subscription is in place (or has
    failed: the lease renewal backstop then covers lost notices).  A lost
    subscription is re-made after ``retry_delay``.
    """
    while True:
        try:
            async with engine.watch_cancellations() as notices:
                ready.set()
                async for notice in notices:
                    if notice.worker == worker:
                        on_notice(notice)
        except Exception as error:
            # An outage is the claim loop's to report, once; anything else is news.
            logger.log(
                logging.DEBUG if looks_like_outage(error) else logging.WARNING,
                "Worker %r lost its cancellation notices; resubscribing in %s",
                worker,
                retry_delay,
                exc_info=True,
            )
            ready.set()
            await clock.sleep(retry_delay.total_seconds())


def _uncancel(task: asyncio.Task[Any]) -> int:
    """Take back one cancellation of ``task``; how many remain (0 where asyncio does not count)."""
    uncancel = getattr(task, "uncancel", None)
    return int(uncancel()) if uncancel is not None else 0
