"""Waiting on a clock in rounds until something is wanted: ``sleeping_until_wanted``, ``WantedRounds``.

For a loop with a periodic duty that is often moot (nothing to renew,
nothing to seed, a heartbeat): sleep a round, ask whether the duty is
wanted, sleep again.  On a ``VirtualClock`` the rounds are checked as the
clock moves (``on_move``) and each round's end can be a deadline that time
skipping stops at (``add_deadline``), so a wake that finds nothing wanted
costs no task a turn; on any other clock they are a coroutine of sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import cast

from docket.clock import Clock, Deadline, VirtualClock

__all__ = ["WantedRounds", "sleeping_until_wanted"]


def sleeping_until_wanted(
    clock: Clock, seconds: float, wanted: Callable[[], bool], *, a_deadline: bool = True
) -> Awaitable[None]:
    """Sleep ``seconds`` on ``clock``, then again, until ``wanted()`` when one ends.

    For a loop with a periodic duty that is often moot (nothing to renew,
    nothing to seed).  On a ``VirtualClock`` it is a plain future and the
    repeats are callbacks, so a wake that finds nothing wanted (each jump of
    virtual time wakes every sleeper once) costs no task a turn; on any
    other clock, a coroutine of sleeps.

    On a ``VirtualClock`` the rounds are checked as the clock moves (inside
    ``advance_to``, before sleepers wake), not woken by an alarm each.  Each
    round's end is a deadline that time skipping stops at
    (``next_deadline``), unless ``a_deadline=False``: for a duty that time
    may pass over (a round of it skipped is only done late, at the next).
    """
    return WantedRounds(clock, seconds, wanted, a_deadline=a_deadline, once=True).wait()


class WantedRounds:
    """``sleeping_until_wanted`` over and over, for a loop that waits so every time round.

    Each ``wait()`` is one ``sleeping_until_wanted``.  On a ``VirtualClock``
    they share one listener on the clock (and one deadline for time
    skipping), kept from one wait to the next, so a loop woken on every jump
    of virtual time (the heartbeat) sets up neither again each time.  A wait
    cancelled stops the listening at the next move (the next ``wait``
    listens again); ``close()`` stops it at once.
    """

    __slots__ = (
        "_a_deadline",
        "_clock",
        "_once",
        "_remove",
        "_seconds",
        "_step",
        "_stop",
        "_wanted",
    )

    def __init__(
        self,
        clock: Clock,
        seconds: float,
        wanted: Callable[[], bool],
        *,
        a_deadline: bool = True,
        once: bool = False,
    ) -> None:
        if not seconds > 0:
            raise ValueError(f"seconds must be positive, got {seconds!r}")
        self._clock, self._seconds, self._wanted = clock, seconds, wanted
        self._step = timedelta(seconds=seconds)
        self._a_deadline, self._once = a_deadline, once
        self._stop: Deadline | None = None
        self._remove: Callable[[], None] | None = None

    def wait(self) -> Awaitable[None]:
        """Sleep, then again, until ``wanted()`` when a round ends."""
        clock = self._clock
        if not isinstance(clock, VirtualClock):
            return _sleep_until_wanted(clock, self._seconds, self._wanted)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        due = clock.now() + self._step
        stop = self._stop
        if stop is None:
            stop = self._stop = Deadline(due, done)
        else:
            stop.due, stop.waiting = due, done
        if self._remove is None:
            self._remove = clock.on_move(self._moved)
            if self._a_deadline:
                clock.add_deadline(stop)
        if self._a_deadline:
            clock.deadlines_moved()  # as a new alarm would: time skipping looks again
        return done

    def _moved(self, now: datetime) -> None:
        # Only ever listening on a VirtualClock, with a round set up by wait().
        stop = cast(Deadline, self._stop)
        done = stop.waiting
        if done.done():
            if self._once or done.cancelled():  # cancelled meanwhile: stop listening
                self.close()
            return
        if now < stop.due:
            return
        try:
            if not self._wanted():
                stop.due = now + self._step
                if self._a_deadline:
                    cast(VirtualClock, self._clock).deadlines_moved()
                return
            done.set_result(None)
        except Exception as error:  # the caller's to see, as in the coroutine form
            done.set_exception(error)
        if self._once:
            self.close()

    def close(self) -> None:
        """Stop listening to the clock (a wait still pending then never ends by itself)."""
        remove, self._remove = self._remove, None
        if remove is None:
            return
        remove()
        clock = self._clock
        if self._a_deadline and isinstance(clock, VirtualClock) and self._stop is not None:
            clock.remove_deadline(self._stop)


async def _sleep_until_wanted(clock: Clock, seconds: float, wanted: Callable[[], bool]) -> None:
    while True:
        await clock.sleep(seconds)
        if wanted():
            return
