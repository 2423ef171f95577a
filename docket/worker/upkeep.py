"""Upkeep: what a worker keeps doing beside its runs, for as long as it is entered.

Heartbeats (so ``docket.workers()`` lists it, only while its claim loop is
healthy: a worker entered but not claiming, or failing every claim, is retired
at once), lease renewal (so its running,
held and unsettled deliveries are not reclaimed, and a cancellation whose
notice was lost is caught), hold expiry (a held delivery that waited past its
limit goes back to the queue), and cancellation notices (``Docket.cancel``
reaching one of its runs).  Each loop reads the worker's slots and settler and
writes only heartbeats, leases and hand-backs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from docket.clock import VirtualClock, sleeping
from docket.clock_rounds import WantedRounds, sleeping_until_wanted
from docket.docket import Docket
from docket.engines.base import Cancellation, Claim
from docket.instrumentation import DEPTHS, depths_wanted
from docket.racing import first_of
from docket.states import ExecutionState
from docket.worker.cancelling import RunCancellations
from docket.worker.claiming import ClaimLoop
from docket.worker.event_log import looks_like_outage
from docket.worker.settling import Settler
from docket.worker.slots import Slots

__all__ = ["Upkeep"]


def _always() -> bool:
    return True


logger = logging.getLogger("docket.worker")


class _StorageCall:
    """Counts a storage call in flight for its block (a class: entered on every wake)."""

    __slots__ = ("_upkeep",)

    def __init__(self, upkeep: Upkeep) -> None:
        self._upkeep = upkeep

    def __enter__(self) -> None:
        self._upkeep.in_flight += 1

    def __exit__(self, *exc_info: object) -> None:
        self._upkeep.in_flight -= 1


class Upkeep:
    """The background loops of one worker."""

    def __init__(
        self,
        docket: Docket,
        worker: str,
        slots: Slots,
        settler: Settler,
        cancellations: RunCancellations,
        claims: ClaimLoop,
        redelivery_timeout: timedelta,
    ) -> None:
        self.docket = docket
        self.worker = worker
        self.slots = slots
        self.settler = settler
        self.cancellations = cancellations
        self.claims = claims
        self.hand_back: Callable[[Sequence[Claim]], Awaitable[None]] = claims.hand_back
        self.redelivery_timeout = redelivery_timeout
        self.in_flight = 0
        """Storage calls these loops have in flight (time skipping waits for none)."""

    def busy(self) -> bool:
        """Time must not skip yet: a storage call is in flight, or an outcome waits to
        be written (until it is, the next due time the claim loop knows is stale)."""
        return self.in_flight > 0 or bool(self.settler.unsettled)

    def _storage_call(self) -> _StorageCall:
        return _StorageCall(self)

    def on_cancellation(self, notice: Cancellation) -> None:
        """``Docket.cancel`` ended a delivery this worker holds: interrupt or skip its run."""
        held = (
            notice.delivery in self.slots.running or notice.delivery in self.slots.held.deliveries()
        )
        self.cancellations.request(notice.delivery, notice.generation, held)

    async def heartbeats(self) -> None:
        """Say this worker is alive (and which tasks it knows) every heartbeat interval
        while its claim loop is healthy, and at once when it becomes so; retire it
        at once when it stops being so."""
        interval = self.docket.heartbeat_interval.total_seconds()
        # On a VirtualClock every beat's wait shares one listener on the clock.
        beats = WantedRounds(self.docket.clock, interval, _always, a_deadline=False)
        try:
            await self._beat(interval, beats)
        finally:
            beats.close()

    async def _beat(self, interval: float, beats: WantedRounds) -> None:
        docket, claims = self.docket, self.claims
        dead_after = docket.heartbeat_interval * docket.missed_heartbeats
        listed = False
        while True:
            claims.health_changed.clear()
            try:
                with self._storage_call():
                    now = docket.clock.now()
                    if claims.healthy:
                        listed = True
                        await docket.engine.heartbeat(
                            self.worker, frozenset(docket.tasks), now, dead_after
                        )
                        if depths_wanted():
                            counts = await docket.engine.counts(now)
                            DEPTHS[(docket.name, self.worker)] = (counts.queued, counts.future)
                    elif listed:
                        listed = False
                        await docket.engine.retire(self.worker)
            except Exception as error:
                # An outage is the claim loop's to report, once; anything else is news.
                logger.log(
                    logging.DEBUG if looks_like_outage(error) else logging.WARNING,
                    "Worker %r could not send its heartbeat",
                    self.worker,
                    exc_info=True,
                )
            await self._until_next_beat(interval, beats)

    async def _until_next_beat(self, interval: float, beats: WantedRounds) -> None:
        """Wait ``interval`` on the docket's clock, or until the claim loop's health changes.

        On a ``VirtualClock`` the beat is due once the clock has moved past
        it, and is not a deadline time skipping stops at: a jump over many
        beats ends with one, as after a pause.  The wait is a plain future
        the health signal can end as well, with no race to set up.
        """
        changed, clock = self.claims.health_changed, self.docket.clock
        if not isinstance(clock, VirtualClock):
            await first_of(sleeping(clock, interval), changed)
            return
        if changed.is_set():
            return
        beat = beats.wait()
        assert isinstance(beat, asyncio.Future)
        changed.notify(beat)
        await beat

    async def lease_renewals(self) -> None:
        """Renew the leases of every delivery this worker holds, four times per lease."""
        docket, slots, settler = self.docket, self.slots, self.settler
        clock = docket.clock
        period = self.redelivery_timeout.total_seconds() / 4

        def renewal_due() -> bool:
            # A delivery started at this very moment (a jump of virtual time
            # wakes this and the claim loop together) holds a lease as fresh
            # as a renewal would make it; with only such, the round is moot.
            if settler.unsettled or slots.held:
                return True
            occupied = slots.occupied
            if not occupied and not slots.running:
                return False  # nothing held here (the common round on a VirtualClock)
            if any(delivery not in occupied for delivery in slots.running):
                return True
            now = clock.monotonic()
            return any(started < now for started in occupied.values())

        while True:
            await sleeping_until_wanted(clock, period, renewal_due)
            if slots.empty and not settler.unsettled:
                continue
            # The claim loop's backstop: should it ever miss the wake-up of a
            # freed slot, it looks again now rather than never.
            slots.freed.set()
            deliveries = [
                *slots.running,
                *settler.unsettled.difference(slots.running),
                *slots.held.deliveries(),
            ]
            now = docket.clock.now()
            with self._storage_call():
                try:
                    lost = await docket.engine.renew(
                        self.worker, deliveries, now + self.redelivery_timeout
                    )
                except Exception:
                    logger.warning(
                        "Worker %r could not renew its leases", self.worker, exc_info=True
                    )
                    continue
                cancelled = await self._interrupt_cancelled(set(lost))
            for delivery in self._really_lost(set(lost) - cancelled):
                logger.warning(
                    "Worker %r lost the lease on delivery %s; another worker may run it too",
                    self.worker,
                    delivery,
                )

    def _really_lost(self, lost: set[str]) -> set[str]:
        """The deliveries among ``lost`` that this worker still holds and is not settling.

        A delivery whose outcome was written (or is being written) while the
        renewal was in flight is acknowledged, not lost: no other worker can
        run it, so it is no cause for alarm.
        """
        slots, settler = self.slots, self.settler
        held = set(slots.held.deliveries())
        return {
            delivery
            for delivery in lost
            if (delivery in slots.running or delivery in held or delivery in settler.unsettled)
            and not settler.batcher.writing(delivery)
        }

    async def _interrupt_cancelled(self, lost: set[str]) -> set[str]:
        """Interrupt runs whose lease was lost because their work was cancelled; return those.

        The backstop for a cancellation notice that pub/sub dropped; a lease
        lost any other way (another worker reclaimed it) leaves the run be.
        """
        docket = self.docket
        cancelled: set[str] = set()
        for delivery in lost:
            running = self.cancellations.running(delivery)
            if running is None:
                continue
            key, generation = running
            try:
                record = await docket.engine.get_record(key, docket.clock.now())
            except Exception:
                logger.warning("Worker %r could not read %r", self.worker, key, exc_info=True)
                continue
            if (
                record is not None
                and record.generation == generation
                and record.state is ExecutionState.CANCELLED
            ):
                cancelled.add(delivery)
                self.cancellations.request(delivery, generation, held=False)
        return cancelled

    async def hold_expiry(self) -> None:
        """Hand back deliveries held longer than their limit (``scheduling_resolution``)."""
        clock, slots = self.docket.clock, self.slots
        while True:
            expiry = slots.held.next_expiry()
            if expiry is None:
                slots.holding.clear()
                await slots.holding.wait()
                continue
            delay = expiry - clock.monotonic()
            if delay > 0:
                await clock.sleep(delay)
                continue
            with self._storage_call():
                await self.hand_back(slots.held.expired(clock.monotonic()))
            # Room to claim may have changed; let the claim loop look again.
            slots.freed.set()
