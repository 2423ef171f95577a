"""Slots: where a worker's runs happen, ``concurrency`` at most at once.

A slot is a task that runs one claimed delivery and then, while any wait, the
deliveries held for it (``prefetch.py``), one after another with no task to
create in between.  A slot counts as taken (``occupied``) from the start of
its run until its body has ended; the outcome is written afterwards, by the
settler, so writing outcomes never leaves a slot idle.  Each run's result goes
to the settler: an ``Outcome`` to ``settle``, a ``SetAside`` to ``set_aside``,
a ``Deferred`` to ``defer``.

A suspect (a delivery whose worker may have died running it, ``Claim.suspect``)
runs alone: it starts only once nothing else runs here and every outcome of
an earlier run has been written, and nothing else starts until it has ended
and its own outcome has been written.  If it kills this worker too, no
innocent run dies with it, nor any outcome still waiting to be written here
(whose run would be delivered again and blamed beside it).

The claim loop starts runs here and waits on ``freed``, which is set whenever
a slot frees or an outcome lands (either may let it claim more, or finish).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any

from docket.clock import Clock
from docket.engines.base import Claim
from docket.racing import Signal
from docket.worker.outcomes import Deferred, Outcome, RunResult, SetAside
from docket.worker.prefetch import HeldDeliveries
from docket.worker.run_context import in_context
from docket.worker.settling import Settler

__all__ = ["Slots"]


class Slots:
    """The running and held deliveries of one worker, and the tasks that run them."""

    def __init__(
        self,
        concurrency: int,
        held: HeldDeliveries,
        clock: Clock,
        run: Callable[[Claim, bool], Coroutine[Any, Any, RunResult]],
        settler: Settler,
        stopping: Signal,
    ) -> None:
        self.concurrency = concurrency
        self.held = held
        self.running: dict[str, asyncio.Task[None]] = {}
        """The slot task of each delivery started and not yet finished."""
        self.occupied: dict[str, float] = {}
        """Deliveries whose body may still be running, with the monotonic time it started."""
        self.freed = Signal()
        self.holding = asyncio.Event()
        """Set while deliveries are held (the hold-expiry loop sleeps otherwise)."""
        self.runs_ended = 0
        """How many runs have ended or had their outcome written: a claim that saw
        this move while it was in flight may have looked before an outcome (a
        retry, due now) landed."""
        self._starts = 0
        """Slot tasks started so far; each runner is told its number."""
        self._begun = 0
        """The number of the last slot task that has had its first step (they
        have theirs in the order they started)."""
        self.alone: str | None = None
        """The suspect delivery running alone here, or ended with its outcome not
        yet written, if one is (``_alone_now`` clears it once written)."""
        self.run_context = contextvars.copy_context()
        """The context each run's own context is copied from (set by the claim loop)."""
        self._clock = clock
        self._run = run
        self._settler = settler
        self._stopping = stopping

    @property
    def free(self) -> int:
        """How many slots are free now."""
        return self.concurrency - len(self.occupied)

    @property
    def isolating(self) -> bool:
        """A suspect runs alone here or waits to: nothing new may start meanwhile."""
        return self._alone_now() or self.held.suspects > 0

    def may_start(self, claim: Claim) -> bool:
        """Whether ``claim`` may start now: a slot is free, no suspect runs alone
        (or waits for its outcome to be written), and, for a suspect, nothing else
        runs and no outcome waits to be written."""
        if self._alone_now():
            return False
        if claim.suspect:
            return not self.occupied and not self._settler.unsettled
        return len(self.occupied) < self.concurrency

    def _alone_now(self) -> bool:
        """A suspect runs here, or has ended and its outcome is not yet written."""
        alone = self.alone
        if alone is None:
            return False
        if alone in self.running or alone in self._settler.unsettled:
            return True
        self.alone = None
        return False

    @property
    def fresh_starts(self) -> bool:
        """Slot tasks were started that have not yet had their first step
        (reached their first await), as far as is known."""
        return self._begun != self._starts

    def starts_stepped(self) -> None:
        """Every slot task started so far has had a turn of the loop (the caller yielded)."""
        self._begun = self._starts

    @property
    def empty(self) -> bool:
        """Nothing runs and nothing is held."""
        return not self.running and not self.held

    def start(self, claim: Claim, held: bool = False) -> None:
        """Start a slot task for ``claim`` (``may_start(claim)`` must hold)."""
        self._starts += 1
        task = asyncio.create_task(self._runner(claim, held, self._starts))
        self._occupy(claim, task)

    def hold(self, claim: Claim) -> None:
        """Keep ``claim`` until a slot frees (behind what is held, so due order is kept)."""
        self.held.hold(claim, self._clock.monotonic())
        self.holding.set()

    def start_held(self) -> None:
        """Start held deliveries in whatever slots are free (never once stopping)."""
        if self._stopping.is_set():
            return
        while self.held and self.may_start(self.held.next()):
            self.start(self.held.take(), held=True)

    def note_written(self) -> None:
        """An outcome landed: a claim that overlapped it must look again."""
        self.runs_ended += 1
        self.freed.set()

    def _occupy(self, claim: Claim, task: asyncio.Task[None]) -> None:
        if claim.suspect:
            self.alone = claim.delivery
        self.running[claim.delivery] = task
        self.occupied[claim.delivery] = self._clock.monotonic()

    async def _runner(self, claim: Claim, held: bool, start: int) -> None:
        """Run ``claim`` (slot task number ``start``), then held deliveries one after
        another while any wait.

        The next held run starts in this task as soon as the last one's body
        has ended, with no task to create and no turn of the loop in between:
        with short tasks that gap would otherwise be a real share of each
        slot's time.  Claiming and writing outcomes happen in the claim loop,
        after the runs just started have reached their first await.
        """
        # Tasks have their first step in the order they were made: once this
        # one has begun, so have all started before it, and this step runs
        # on to its first await before the claim loop can look.
        self._begun = start
        base = self.run_context
        while True:
            try:
                # A context of its own per run, copied from the one the claim
                # loop was called in, as a task per run would have had.
                result = await in_context(self._run(claim, held), base.copy())
                if isinstance(result, Outcome):
                    self._settler.settle(claim, result)
                    # Its body has ended: the slot frees before the outcome is written.
                    self._release(claim.delivery)
                elif isinstance(result, SetAside):
                    await self._settler.set_aside(claim, result.reason)
                elif isinstance(result, Deferred):
                    await self._settler.defer(claim, result.message)
            finally:
                self._finished(claim.delivery)
            if self._stopping.is_set() or not self.held:
                return
            if not self.may_start(self.held.next()):
                return
            claim, held = self.held.take(), True
            task = asyncio.current_task()
            assert task is not None
            self._occupy(claim, task)

    def _finished(self, delivery: str) -> None:
        self.runs_ended += 1
        self.running.pop(delivery, None)
        self._free(delivery)
        # Wake the claim loop even when the slot was released earlier: with
        # nothing left running, run_until_finished may be done.
        self.freed.set()

    def _release(self, delivery: str) -> None:
        """Free the slot of a run whose body has ended; its task takes held work next."""
        if self._free(delivery):
            self.freed.set()

    def _free(self, delivery: str) -> bool:
        started = self.occupied.pop(delivery, None)
        if started is None:
            return False
        self.held.run_ended(self._clock.monotonic() - started)
        return True
