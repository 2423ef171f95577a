"""``Timeout``: a per-attempt time limit on a task's body, on the docket's clock.

This module owns racing the body against a deadline that the body itself may
push back (``extend``).  Time is read from ``docket.clock`` only, so a
``VirtualClock`` controls expiry exactly as it controls everything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from docket.clock import VirtualClock
from docket.dependencies.base import Runtime, run_copy
from docket.dependencies.context import current_execution
from docket.racing import cancel_and_wait
from docket.timeutil import duration_seconds

if TYPE_CHECKING:
    from docket.clock import Clock
    from docket.execution import Execution

__all__ = ["Timeout"]

# Float arithmetic on a virtual clock can leave a sliver of "remaining" time
# after advancing exactly to the deadline; a sleep that short would return at
# once and the race would spin.  Below this, the deadline has passed.
_RESOLUTION = 1e-6


class Timeout(Runtime["Timeout"]):
    """Fail a run that takes longer than ``base`` (per attempt, not per task).

    The body runs in a child task.  When the deadline passes, the child is
    cancelled and awaited, and the run raises ``TimeoutError("Docket task
    {key} exceeded timeout of {seconds}s")``: an ordinary failure, so a
    ``Retry`` on the task retries it.  Cancelling the worker itself still
    raises ``CancelledError``.  The injected copy can ``extend()`` its own
    deadline while running and report ``remaining()``::

        async def crawl(timeout: Timeout = Timeout(timedelta(seconds=30))):
            for page in pages:
                await fetch(page)
                timeout.extend()  # another 30 seconds for the next page
    """

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    def __init__(self, base: timedelta) -> None:
        if duration_seconds(base, "base") <= 0:
            raise ValueError(f"base must be positive, got {base!r}")
        self.base = base if isinstance(base, timedelta) else timedelta(seconds=float(base))
        # Per-run state: only meaningful on the copy ``__aenter__`` returns.
        self._limit = self.base.total_seconds()
        self._started: float | None = None
        self._clock: Clock | None = None

    async def __aenter__(self) -> Any:
        # The declaration is shared by every run; each gets its own deadline.
        run = run_copy(self)
        run._limit = self.base.total_seconds()
        run._started = None
        run._clock = current_execution.get().docket.clock
        return run

    def start(self) -> None:
        """Start the clock for this attempt (``run`` does this)."""
        if self._clock is None:
            raise RuntimeError("start() needs a docket clock; call it on the injected Timeout")
        self._started = self._clock.monotonic()

    def _remaining_seconds(self) -> float:
        if self._started is None or self._clock is None:
            return self._limit
        return self._limit - (self._clock.monotonic() - self._started)

    def remaining(self) -> timedelta:
        """Time left before the deadline (the whole limit if not yet started)."""
        return timedelta(seconds=max(0.0, self._remaining_seconds()))

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self._remaining_seconds() < _RESOLUTION

    def extend(self, by: timedelta | None = None) -> None:
        """Move the deadline ``by`` later (default: by ``base``), even while running."""
        if by is None:
            by = self.base
        self._limit += duration_seconds(by, "by")

    async def run(
        self,
        execution: Execution,
        function: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        self._clock = self._clock or execution.docket.clock

        async def started_body() -> Any:
            # The deadline starts in the body's own first step, so time that
            # passes before the body is scheduled (another task moving a
            # VirtualClock) is not charged to it.
            self.start()
            return await function(*args, **kwargs)

        clock = self._clock
        child = asyncio.ensure_future(started_body())
        try:
            while not child.done():
                left = self._remaining_seconds()
                if left < _RESOLUTION:
                    break
                # Sleep until the deadline as it stands now; on waking, the
                # loop re-reads it, so an extend() meanwhile keeps the body going.
                timer = asyncio.ensure_future(clock.sleep(left))
                try:
                    # On a VirtualClock, this run is asleep when the body is.
                    with (
                        clock.waits_for(child, timer)
                        if isinstance(clock, VirtualClock)
                        else nullcontext()
                    ):
                        await asyncio.wait({child, timer}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    await cancel_and_wait(timer)
        except asyncio.CancelledError:
            # Cancelled from outside (the worker is stopping): the body goes
            # too, and the cancellation propagates as itself, not a timeout.
            await cancel_and_wait(child)
            raise
        if child.done():
            return child.result()
        await cancel_and_wait(child)
        raise TimeoutError(f"Docket task {execution.key} exceeded timeout of {self._limit}s")

    def __repr__(self) -> str:
        return f"Timeout({self.base!r})"
