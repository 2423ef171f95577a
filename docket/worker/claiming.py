"""The claim loop: how a worker takes due work from storage into its slots.

It hands out at most ``concurrency`` runs at once (plus what prefetch may
hold).  When it has nothing to claim it waits for whichever comes first: new
work (the engine's wake-up), a freed slot or a written outcome, or the next
due time or lease expiry on the docket's clock; it never polls on a fixed
interval.  While it runs it is the one writer of outcomes: the settler's
pending batch goes in the round trip of its next claim
(``settle_and_claim``), so a busy worker spends about one round trip per batch
of runs.  Claimed work it will not start is handed back to the queue.

The loop is ``healthy`` while it runs and its last claim reached storage:
the worker heartbeats (and so is listed, and passes its health check) only
then, and ``health_changed`` tells the heartbeat at once when that changes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from docket.clock import Clock, VirtualClock, sleeping, sleeping_until
from docket.engines.base import Claim, ClaimBatch, Engine
from docket.instrumentation import internal_operations
from docket.racing import Signal, cancel_and_wait, first_of
from docket.worker.event_log import ConnectionTrouble
from docket.worker.settling import Settler
from docket.worker.slots import Slots
from docket.worker.time_skipping import TimeSkipper

__all__ = ["ClaimLoop", "WorkWait"]

logger = logging.getLogger("docket.worker")


class WorkWait:
    """The engine's ``wait_for_work``, kept across the claim loop's waits.

    A wait still pending from the last time, for the same cursor, is one
    that has seen no new work since: it is raced again rather than
    cancelled and started afresh, which would cost a task and turns of the
    loop for every wait.  One that ended, or was for another cursor, is
    replaced.  An engine's coroutine runs as a task, raced shielded; an
    engine's ``Signal`` (the memory twin's) is raced as it is, and a plain
    future as a ``Signal`` it sets: neither needs a shield nor a cancel.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._task: asyncio.Future[None] | None = None
        self._signal: Signal | None = None
        self._cursor: str | None = None
        self._arrived = Signal()
        self._signalled = False

    def wait(self, cursor: str | None) -> asyncio.Future[None] | Signal:
        """What to race for ``wait_for_work(cursor)``; the race's end leaves the wait running."""
        signal = self._signal
        if signal is not None and cursor == self._cursor and not signal.is_set():
            return signal
        task = self._task
        if signal is not None or task is None or task.done() or cursor != self._cursor:
            if task is not None and not task.done():
                task.cancel()
                task.add_done_callback(_retrieve)
            waited = self._engine.wait_for_work(cursor)
            self._cursor = cursor
            if isinstance(waited, Signal):
                self._signal, self._task = waited, None
                return waited
            self._signal = None
            self._signalled = isinstance(waited, asyncio.Future)
            if isinstance(waited, asyncio.Future):
                self._arrived.clear()
                waited.add_done_callback(self._arrival)
            task = self._task = asyncio.ensure_future(waited)
        if self._signalled:
            return self._arrived
        return asyncio.shield(task)

    def _arrival(self, waited: asyncio.Future[None]) -> None:
        if waited is self._task and not waited.cancelled():
            self._arrived.set()

    async def close(self) -> None:
        """Cancel the wait, if one is pending, and let it end."""
        task, self._task, self._signal = self._task, None, None
        if task is not None:
            await cancel_and_wait(task)


def _retrieve(task: asyncio.Future[None]) -> None:
    # A replaced wait's failure is no one's news: its caller has moved on.
    if not task.cancelled():
        task.exception()


class ClaimLoop:
    """Claims work for one worker's slots until it is stopped or has nothing left."""

    def __init__(
        self,
        worker: str,
        engine: Engine,
        clock: Clock,
        slots: Slots,
        settler: Settler,
        stopping: Signal,
        *,
        message_batch: int,
        redelivery_timeout: timedelta,
        reconnection_delay: timedelta,
        minimum_check_interval: timedelta,
        internal_instrumentation: bool,
    ) -> None:
        self.worker = worker
        self.engine = engine
        self.clock = clock
        self.slots = slots
        self.settler = settler
        self.stopping = stopping
        self.message_batch = message_batch
        self.redelivery_timeout = redelivery_timeout
        self.reconnection_delay = reconnection_delay
        self.minimum_check_interval = minimum_check_interval
        self.internal_instrumentation = internal_instrumentation
        self.health_changed = Signal()
        """Set whenever ``healthy`` may have changed."""
        self._loops = 0
        self._failing = False
        self._trouble = ConnectionTrouble(worker, "claim work")
        self.skipper: TimeSkipper | None = None
        """Moves a ``VirtualClock`` while ``run_until_finished``/``run_until_idle``
        would only wait for it (set by the worker on such a clock)."""

    @property
    def healthy(self) -> bool:
        """Claiming: the loop runs, is not stopping, and its last claim succeeded."""
        return self._loops > 0 and not self._failing and not self.stopping.is_set()

    def _set_failing(self, failing: bool) -> None:
        if failing != self._failing:
            self._failing = failing
            self.health_changed.set()

    def idle(self) -> bool:
        """Nothing runs here, nothing is held, and every outcome is written."""
        return self.slots.empty and not self.settler.unsettled

    async def run(
        self, until_finished: bool, until_idle: bool = False, horizon: datetime | None = None
    ) -> None:
        """Claim and start runs until stopped, or until idle, or until no work is left.

        ``until_finished``: until no future, queued or running work remains
        anywhere; ``until_idle``: until none is due now and none runs here,
        or, with a ``horizon``, until that holds once the clock has reached it
        (see ``_toward``).
        """
        # While this loop runs it is the one writer of outcomes: it writes
        # them in its claims' round trips, so no flusher races it into a
        # round trip of its own.
        self._loops += 1
        self.health_changed.set()
        self.settler.batcher.autoflush = False
        try:
            # Runs start in the context this loop was called in, not in the
            # quiet one its own storage traffic goes through.
            self.slots.run_context = contextvars.copy_context()
            with (
                internal_operations(self.internal_instrumentation),
                self._skipping(until_finished or until_idle),
            ):
                await self._claim_until_done(until_finished, until_idle, horizon)
        finally:
            self._loops -= 1
            if not self._loops:
                self.settler.batcher.autoflush = True
                self._failing = False
            self.health_changed.set()

    @contextmanager
    def _skipping(self, wanted: bool) -> Iterator[None]:
        """Skip idle virtual time during this run, when it ends by itself."""
        if not wanted or self.skipper is None:
            yield
            return
        with self.skipper.running():
            yield

    def _skip(self, next_work: datetime | None) -> list[asyncio.Future[None]]:
        """The skipper's wait to race with the loop's own, if time is skipped."""
        skipper = self.skipper
        if skipper is None or not skipper.active:
            return []
        return [skipper.skip(next_work)]

    async def _claim_until_done(
        self, until_finished: bool, until_idle: bool, horizon: datetime | None
    ) -> None:
        work = WorkWait(self.engine)
        try:
            await self._claim_loop(until_finished, until_idle, horizon, work)
        finally:
            await work.close()

    async def _claim_loop(
        self, until_finished: bool, until_idle: bool, horizon: datetime | None, work: WorkWait
    ) -> None:
        engine, clock, slots, stopping = self.engine, self.clock, self.slots, self.stopping
        batcher = self.settler.batcher
        while not stopping.is_set():
            # Held work takes free slots before anything new is claimed for them.
            slots.start_held()
            room = min(slots.free + slots.held.room(), self.message_batch)
            if slots.isolating:
                # A suspect runs alone or waits to: what this claims could
                # not start until it has ended.
                room = 0
            # Outcomes waiting here go in this claim's round trip; only those
            # a flusher is writing and that have not yet landed count against
            # the bound.
            writing = len(self.settler.unsettled) - len(batcher)
            if len(slots.occupied) + writing >= 2 * slots.concurrency:
                # Outcomes are not being written (storage is slow or away):
                # stop claiming rather than pile up unsettled work.
                room = 0
            if room <= 0:
                if batcher:
                    if not await batcher.flush():
                        # Storage is away: the outcomes are kept; do not spin on it.
                        await self._wait_for(clock.sleep(self.reconnection_delay.total_seconds()))
                    continue
                slots.freed.clear()
                # A slot freeing or an outcome landing sets freed, and so do
                # stop() and every lease renewal while anything runs or is
                # held here: a missed wake-up costs at most a renewal period.
                skipping = self._skip(None)
                if skipping:
                    # stop() sets freed too: no need to race stopping here.
                    await first_of(slots.freed, *skipping)
                else:
                    await slots.freed.wait()
                continue
            if slots.fresh_starts:
                # Let the runs this loop just started reach their first await
                # before the round trip's send, which can hold the loop.
                await asyncio.sleep(0)
                slots.starts_stepped()
                if stopping.is_set():
                    break
            now = clock.now()
            runs_ended = slots.runs_ended
            settling = batcher.take()
            lease_until = now + self.redelivery_timeout
            try:
                if settling:
                    try:
                        applied, batch = await engine.settle_and_claim(
                            [settlement for settlement, _ in settling],
                            self.worker,
                            room,
                            now,
                            lease_until,
                        )
                    except asyncio.CancelledError:
                        # Perhaps never sent: the batcher writes them when the
                        # worker drains (a second write of a settlement that did
                        # land is stale, and only acknowledges).
                        batcher.resubmit(settling)
                        raise
                    except Exception as error:
                        batcher.report(settling, [None] * len(settling), error)
                        raise
                    batcher.report(settling, applied, None)
                    # These outcomes landed before the claim looked: their
                    # callbacks' counts are not news to it.
                    runs_ended += len(settling)
                else:
                    batch = await engine.claim(self.worker, room, now, lease_until)
            except Exception as error:
                wait = self._trouble.failed(
                    error, clock.monotonic(), self.reconnection_delay.total_seconds()
                )
                self._set_failing(True)
                await self._wait_for(clock.sleep(wait))
                continue
            self._trouble.succeeded(clock.monotonic())
            self._set_failing(False)
            if stopping.is_set():
                # Asked to stop while claiming: start nothing new.
                await self.hand_back(batch.claims)
                break
            for claim in batch.claims:
                if claim.delivery in slots.running or claim.delivery in self.settler.unsettled:
                    # Our own run's lease lapsed (say a virtual clock jumped
                    # past it) and we reclaimed it: the reclaim renewed the
                    # lease, and the run is still going, so do not start it twice.
                    continue
                if not slots.held and slots.may_start(claim):
                    slots.start(claim)
                else:
                    slots.hold(claim)
            slots.start_held()
            if (
                # A full claim: more may be waiting.  A short one took all
                # there was, and wait_for_work wakes for anything added since.
                len(batch.claims) >= room
                # A run ended while the claim was in flight: its outcome (a
                # retry or next run, due now) may have landed after it looked,
                # or waits here to be written.
                or slots.runs_ended != runs_ended
                or batcher
            ):
                continue
            if until_idle:
                if self.idle():
                    if horizon is None or not await self._toward(horizon, batch, work):
                        break
                    continue
                slots.freed.clear()
                await self._wait_for(slots.freed, work.wait(batch.cursor), *self._skip(None))
                continue
            # Future work or a lease in the batch means the docket is not
            # finished: counting (a walk over every record on the memory
            # twin) is only worth it when the claim saw neither.
            if until_finished and self.idle() and batch.next_wake is None:
                counts = await engine.counts(now)
                if counts.total == 0:
                    break
            slots.freed.clear()
            waits: list[Awaitable[None] | Signal] = [work.wait(batch.cursor), slots.freed]
            # Leases taken by other workers after this claim are not in
            # next_wake; looking again once per redelivery_timeout bounds how
            # long a dead worker's work can wait to be reclaimed.
            backstop = clock.now() + self.redelivery_timeout
            wake = backstop if batch.next_wake is None else min(batch.next_wake, backstop)
            waits.append(sleeping_until(clock, wake))
            if until_finished and self.idle():
                # Work running on other workers ends without waking us.
                waits.append(sleeping(clock, self.minimum_check_interval.total_seconds()))
            # Skipping goes straight to the next due work; with none known
            # (a lease elsewhere, say), to the backstop, never in tiny steps.
            next_work = batch.next_wake if batch.next_wake is not None else wake
            await self._wait_for(*waits, *self._skip(next_work))
        # What is held would wait for a run this loop no longer starts.
        await self.hand_back(slots.held.take_all())

    async def _toward(self, horizon: datetime, batch: ClaimBatch, work: WorkWait) -> bool:
        """With nothing running here, move on toward ``horizon``; False once there.

        A ``VirtualClock`` jumps straight to the next due work (or lease
        expiry) the claim saw, or to the horizon if that comes first: nothing
        here runs, so nothing here could have used the time in between.  Any
        other clock waits for it, or for new work.
        """
        clock = self.clock
        now = clock.now()
        if now >= horizon:
            return False
        wake = horizon if batch.next_wake is None else min(batch.next_wake, horizon)
        if isinstance(clock, VirtualClock):
            if self.skipper is not None and self.skipper.upkeep_busy():
                # Let the upkeep a jump woke finish its storage call at the
                # time it woke for before time moves again.
                await asyncio.sleep(0)
            else:
                clock.advance_to(max(wake, now))
            return True
        wake = min(wake, now + self.redelivery_timeout)
        await self._wait_for(sleeping_until(clock, wake), work.wait(batch.cursor))
        return True

    async def _wait_for(self, *waits: Any) -> None:
        await first_of(self.stopping, *waits)

    async def hand_back(self, claims: Sequence[Claim]) -> None:
        """Return claimed, never started deliveries to the queue for any worker."""
        await self.release([claim.delivery for claim in claims])

    async def release(self, deliveries: Sequence[str]) -> None:
        """Return deliveries this worker holds to the queue, for any worker to take at once."""
        if not deliveries:
            return
        try:
            await self.engine.release(self.worker, deliveries, self.clock.now())
        except Exception:
            logger.warning(
                "Worker %r could not hand back %d deliveries; they return when their leases expire",
                self.worker,
                len(deliveries),
                exc_info=True,
            )
