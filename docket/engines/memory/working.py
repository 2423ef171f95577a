"""The worker's side of a memory docket: claims, leases, settlements, releases, dead letters, progress.

The twin of ``redis/working.py`` and of ``lua/claiming.lua``, ``renew.lua``,
``settling.lua``, ``release.lua``, ``set_aside.lua``, ``isolated_run.lua`` and
``progress.lua``.  A
delivery carries the generation it was made for, and acts on its record only
while that record is RUNNING at that generation; otherwise (replaced,
cancelled, ended) it is only forgotten.  Every ``now`` and ``lease_until`` is
already truncated to milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta

from docket.engines.memory import dead_letters, gates
from docket.engines.memory.listeners import announce
from docket.engines.memory.store import QUEUED, RUNNING, SCHEDULED, Delivery, Store
from docket.engines.messages import check_settlement
from docket.engines.records import (
    Claim,
    ClaimBatch,
    DeadLetter,
    ExecutionRecord,
    ProgressChange,
    ProgressState,
    ProgressUpdate,
    Settlement,
)
from docket.frozen import build_frozen, evolve
from docket.racing import Signal
from docket.states import ExecutionState
from docket.timeutil import utc_ms

__all__ = [
    "claim",
    "count_isolated_run",
    "release",
    "renew",
    "report_progress",
    "set_aside",
    "settle",
    "wait_for_work",
]


def claim(
    store: Store, worker: str, count: int, now: datetime, lease_until: datetime, promote_limit: int
) -> ClaimBatch:
    """Promote due work, reclaim expired leases, then claim queued work in due order."""
    promoted = 0
    while store.future and store.future[0][0] <= now and promoted < promote_limit:
        entry = heapq.heappop(store.future)
        record = store.current(entry[2], entry[1], SCHEDULED)
        if record is not None:
            store.put(evolve(record, state=QUEUED))
            heapq.heappush(store.queued, entry)
            promoted += 1
    if promoted:
        store.wake()

    claims: list[Claim] = []
    reclaimed: list[Delivery] = []
    while store.leases and store.leases[0][0] <= now and len(claims) < count:
        expired, _, delivery_id = heapq.heappop(store.leases)
        delivery = store.deliveries.get(delivery_id)
        if delivery is None or delivery.lease_until != expired:
            continue
        record = store.current(delivery.key, delivery.generation, RUNNING)
        if record is None:
            # Its execution was replaced, cancelled or ended meanwhile: nothing to redeliver.
            del store.deliveries[delivery_id]
            continue
        delivery.worker, delivery.lease_until = worker, lease_until
        reclaimed.append(delivery)
        running = store.put(evolve(record, worker=worker, suspected=True))
        claims.append(suspect_claim(delivery_id, running, redelivered=True))
    # Pushed only now so a lease_until <= now cannot be reclaimed twice in one call.
    for delivery in reclaimed:
        heapq.heappush(store.leases, (lease_until, delivery.seq, str(delivery.seq)))

    while store.queued and len(claims) < count:
        entry = heapq.heappop(store.queued)
        record = store.current(entry[2], entry[1], QUEUED)
        if record is None:
            continue
        running = store.put(evolve(record, state=RUNNING, worker=worker, started_at=now))
        seq = next(store.delivery_seqs)
        store.deliveries[str(seq)] = Delivery(
            record.key, record.generation, worker, lease_until, seq
        )
        heapq.heappush(store.leases, (lease_until, seq, str(seq)))
        claims.append(
            suspect_claim(str(seq), running)
            if running.suspected
            else build_frozen(Claim, _CLAIM_DEFAULTS, delivery=str(seq), record=running, raw={})
        )
    return build_frozen(ClaimBatch, _BATCH_DEFAULTS, claims=claims, next_wake=store.next_wake())


# What the constructors fill in, for ``build_frozen``: a claim and a batch are
# built on every claim of every worker.
_CLAIM_DEFAULTS = dict(vars(Claim("", None)))
_BATCH_DEFAULTS = dict(vars(ClaimBatch([], None)))


def suspect_claim(delivery: str, record: ExecutionRecord, redelivered: bool = False) -> Claim:
    """A claim of a suspected execution, with the runs that may not have finished
    (the first, shared one, those started alone since, and this one)."""
    return Claim(
        delivery,
        record,
        redelivered=redelivered,
        deliveries=2 + record.isolated_runs,
        suspect=True,
    )


def count_isolated_run(store: Store, key: str, generation: int) -> None:
    """Count a run of the execution at ``key`` starting alone, if it is running at ``generation``."""
    record = store.current(key, generation, RUNNING)
    if record is not None:
        store.put(evolve(record, isolated_runs=record.isolated_runs + 1))


def renew(store: Store, worker: str, deliveries: Sequence[str], lease_until: datetime) -> set[str]:
    """Extend the leases ``worker`` still holds; return the deliveries it lost.

    A delivery whose record, at its generation, has ended (cancelled while it
    ran) or is gone is lost too, and keeps its old lease; one whose key was
    replaced since (another generation) runs on, and is renewed.
    """
    lost: set[str] = set()
    for delivery_id in deliveries:
        delivery = store.deliveries.get(delivery_id)
        record = None if delivery is None else store.records.get(delivery.key)
        if (
            delivery is None
            or delivery.worker != worker
            or record is None
            or (record.generation == delivery.generation and record.state is not RUNNING)
        ):
            lost.add(delivery_id)
        elif delivery.lease_until != lease_until:
            delivery.lease_until = lease_until
            heapq.heappush(store.leases, (lease_until, delivery.seq, delivery_id))
    return lost


def wait_for_work(store: Store) -> Awaitable[None]:
    """Ends at once if work is queued, else when work is queued or scheduled.

    While nothing is queued, a ``Signal`` that the next work to arrive sets
    (racing it costs no task and no future; every waiter until then shares
    it, and a wait given up on leaves nothing behind); otherwise
    ``asyncio.sleep(0)``, which still yields, so a caller that cannot take
    the queued work yet does not starve the loop.
    """
    queued = store.queued
    while queued and store.current(queued[0][2], queued[0][1], QUEUED) is None:
        heapq.heappop(queued)
    if queued:
        return asyncio.sleep(0)
    arrived = store.work_arrived
    if arrived is None:
        arrived = store.work_arrived = Signal()
    return arrived


def settle(store: Store, settlements: Sequence[Settlement], now: datetime) -> list[bool]:
    """Acknowledge each delivery and, unless stale, end or reschedule its record.

    Every settlement is checked before any applies, so a bad one refuses the batch.
    """
    for settlement in settlements:
        check_settlement(settlement)
    applied: list[bool] = []
    for settlement in settlements:
        store.deliveries.pop(settlement.delivery, None)
        record = store.current(settlement.key, settlement.generation, RUNNING)
        if record is None:
            applied.append(False)
            continue
        if settlement.reschedule is not None:
            gates.reschedule(store, settlement.reschedule, settlement.wait_for, now)
        else:
            if settlement.started_at is not None:
                record = evolve(record, started_at=utc_ms(settlement.started_at))
            store.end(
                record,
                settlement.state,
                utc_ms(settlement.completed_at),
                settlement.ttl,
                error=settlement.error,
                result=settlement.result,
            )
        applied.append(True)
    return applied


def release(store: Store, worker: str, deliveries: Sequence[str]) -> int:
    """Return unstarted deliveries of ``worker`` to the queue (see ``Engine.release``)."""
    released = 0
    for delivery_id in deliveries:
        delivery = store.deliveries.get(delivery_id)
        if delivery is None or delivery.worker != worker:
            continue
        # Its entry in the lease heap goes stale and is skipped lazily.
        del store.deliveries[delivery_id]
        record = store.current(delivery.key, delivery.generation, RUNNING)
        if record is None:
            continue
        store.put(evolve(record, state=QUEUED, worker=None, started_at=None))
        heapq.heappush(store.queued, (record.when, record.generation, record.key))
        released += 1
    if released:
        store.wake()
    return released


def set_aside(
    store: Store,
    delivery: str,
    reason: str,
    now: datetime,
    ttl: timedelta,
    key: str | None,
    generation: int | None,
    retention: timedelta,
) -> None:
    """Acknowledge ``delivery``, keep it whole as a dead letter, and fail the named record."""
    held = store.deliveries.pop(delivery, None)
    fields = {"delivery": delivery}
    if held is not None:
        fields.update(key=held.key, generation=str(held.generation), worker=held.worker)
        if key is None:
            # As on Redis: a delivery that names the current execution fails it,
            # so a set-aside never leaves its key taken by a RUNNING record.
            key, generation = held.key, held.generation
    record = store.records.get(key) if key is not None else None
    if record is not None and record.generation != generation:
        record = None  # another execution's message now: not this delivery's
    dead_letters.keep(
        store,
        DeadLetter(
            key=key,
            function_name=None if record is None else record.function_name,
            reason=reason,
            set_aside_at=now,
            fields=fields,
            payload=None if record is None else record.payload,
            when=None if record is None else record.when,
            attempt=None if record is None else record.attempt,
            headers={} if record is None else dict(record.headers),
            worker=None if held is None else held.worker,
            delivery=delivery,
        ),
        now,
        retention,
    )
    if record is not None and record.state.is_live:
        store.end(record, ExecutionState.FAILED, now, ttl, error=reason)


def report_progress(
    store: Store, key: str, generation: int, update: ProgressUpdate
) -> ProgressState | None:
    """Change a running execution's progress and publish it; None if not running."""
    record = store.current(key, generation, RUNNING)
    if record is None:
        return None
    old = record.progress
    progress = ProgressState(
        current=old.current + update.increment,
        total=update.total if update.total is not None else old.total,
        message=update.message if update.message is not None else old.message,
    )
    store.records[key] = evolve(record, progress=progress)
    announce(store.subscribers.get(key, set()), ProgressChange(key, generation, progress))
    return progress
