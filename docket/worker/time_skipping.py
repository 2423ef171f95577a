"""Skipping idle virtual time: a worker on a ``VirtualClock`` moves it when it would only wait.

On a ``VirtualClock`` nothing but ``advance`` moves time, so a worker asked to
run until finished with work due next week, or running a task that sleeps on
the docket clock, would wait for ever.  While the claim loop waits, the
skipper watches.  Once every run here is asleep on the clock and the worker's
own upkeep has no storage call in flight, it moves the clock to the earliest
deadline anyone sleeps until, and again each time everything is asleep once
more, so each sleeper (a lease renewal among them) wakes in deadline order.
Heartbeats and reseeding are not deadlines here: each is due once the clock
has moved past it, so a jump over many ends with one.
With nothing running or held here, it moves straight to the next due work:
the heartbeats and renewals due on the way each wake once, as after a pause.

Skipping is bounded: one run of the claim loop skips at most the clock's
``skip_limit``; past it, ``RunsForever`` names the work still scheduled.
Like trio's autojump and Temporal's time skipping, but decided by what the
worker knows of its own runs rather than by a real-time threshold, so it is
deterministic and costs no real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from docket.clock import VirtualClock
from docket.engines.base import Engine
from docket.errors import RunsForever
from docket.worker.slots import Slots

__all__ = ["SETTLE_TURNS", "TimeSkipper"]

SETTLE_TURNS = 3
"""Turns of the event loop given to whatever just woke, before looking again:
enough for a woken run or upkeep loop to reach its next await."""

_NAMED = 5
"""How many scheduled executions a ``RunsForever`` message names."""

_running_on: WeakKeyDictionary[VirtualClock, int] = WeakKeyDictionary()
"""How many skipping workers run on each clock.  One worker cannot tell when
another's runs wait for the clock, so with two at once neither skips."""


class TimeSkipper:
    """Moves one worker's ``VirtualClock`` while everything on that worker waits for it."""

    def __init__(
        self,
        clock: VirtualClock,
        engine: Engine,
        slots: Slots,
        upkeep_busy: Callable[[], bool],
    ) -> None:
        self.clock = clock
        self.engine = engine
        self.slots = slots
        self.upkeep_busy = upkeep_busy
        self.skipped = timedelta(0)
        """Virtual time skipped in the current run of the claim loop."""
        self.active = False
        """Skipping now: inside ``running`` on a clock whose ``skip_idle_time`` is on."""

    @contextmanager
    def running(self) -> Iterator[None]:
        """One run of the claim loop: skipped time counts afresh against ``skip_limit``."""
        if not self.clock.skip_idle_time:
            yield
            return
        self.skipped = timedelta(0)
        self.active = True
        _running_on[self.clock] = _running_on.get(self.clock, 0) + 1
        try:
            yield
        finally:
            self.active = False
            _running_on[self.clock] -= 1

    def _runs_asleep(self) -> bool:
        clock = self.clock
        return all(clock.asleep(task) for task in self.slots.running.values())

    def skip(self, next_work: datetime | None) -> asyncio.Future[None]:
        """Move the clock whenever this worker only waits for it, until cancelled.

        Returns a future to race against the claim loop's other waits (which
        cancel it); it never completes by itself, and fails with
        ``RunsForever`` past the skip limit.  ``next_work`` is when the claim
        loop's next look is due: with nothing running or held here, time
        moves straight there.  The watch is a chain of callbacks, one per
        turn of the loop, rather than a task: the claim loop races one each
        time it waits.
        """
        watch: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if _running_on.get(self.clock, 0) > 1:
            # Another worker runs on this clock: leave time to the test.
            return watch
        # A task would first run on the next turn, then let SETTLE_TURNS pass.
        self._after_turns(watch, next_work, SETTLE_TURNS + 1)
        return watch

    def _after_turns(
        self, watch: asyncio.Future[None], next_work: datetime | None, turns: int
    ) -> None:
        """Look (``_look``) once ``turns`` turns of the loop have passed, unless cancelled."""
        if watch.done():
            return
        if turns > 0:
            asyncio.get_running_loop().call_soon(self._after_turns, watch, next_work, turns - 1)
            return
        self._look(watch, next_work)

    def _look(self, watch: asyncio.Future[None], next_work: datetime | None) -> None:
        """Move the clock if everything here waits for it; then look again later."""
        clock, slots = self.clock, self.slots
        if not self._runs_asleep():
            # A run is busy (or waits on something else): look again once
            # anything starts sleeping on the clock, or the run ends (which
            # ends the claim loop's wait, and this with it).
            self._after_sleep_starts(watch, next_work)
            return
        if not self.upkeep_busy():
            idle = not slots.running and not slots.held
            target = next_work if idle and next_work is not None else clock.next_deadline()
            if target is None:
                self._after_sleep_starts(watch, next_work)
                return
            now = clock.now()
            if target > now:
                if self.skipped + (target - now) > clock.skip_limit:
                    self._give_up(watch, target)
                    return
                self.skipped += target - now
                clock.advance_to(target)
        self._after_turns(watch, next_work, SETTLE_TURNS)

    def _after_sleep_starts(self, watch: asyncio.Future[None], next_work: datetime | None) -> None:
        started = self.clock.sleep_starting()

        def stop(_: asyncio.Future[None]) -> None:
            started.cancel()

        def woken(_: asyncio.Future[None]) -> None:
            watch.remove_done_callback(stop)
            # Woken a turn after the sleep started, as a task would be.
            self._after_turns(watch, next_work, SETTLE_TURNS)

        started.add_done_callback(woken)
        watch.add_done_callback(stop)

    def _give_up(self, watch: asyncio.Future[None], target: datetime) -> None:
        """Fail ``watch`` with ``RunsForever``, naming the work still coming."""

        async def fail() -> None:
            message = await self._runaway_message(target)
            if not watch.done():
                watch.set_exception(RunsForever(message))

        task = asyncio.ensure_future(fail())
        watch.add_done_callback(lambda _: task.cancel())

    async def _runaway_message(self, target: datetime) -> str:
        now = self.clock.now()
        try:
            snapshot = await self.engine.snapshot(now, limit=_NAMED)
            upcoming = [*snapshot.running, *snapshot.queued, *snapshot.future][:_NAMED]
            named = ", ".join(
                f"{record.function_name} (key {record.key!r}, due {record.when.isoformat()})"
                for record in upcoming
            )
        except Exception as error:  # the message must not hide the runaway itself
            named = f"(could not read what is scheduled: {type(error).__name__})"
        return (
            f"the worker skipped {self.skipped} of virtual time (skip_limit="
            f"{self.clock.skip_limit}) and work is still coming, next at "
            f"{target.isoformat()}: {named or 'nothing named'}. A Perpetual with no end "
            f"runs for ever: bound it (Worker.run_at_most, or a task that stops "
            f"rescheduling), move time with advance() instead, or give the "
            f"VirtualClock a larger skip_limit."
        )
