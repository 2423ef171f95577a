"""The worker's side of a memory docket: claims, leases, settlements, releases, dead letters.

The twins of ``lua/claiming.lua``, ``renew.lua``, ``settling.lua``,
``release.lua`` and ``set_aside.lua``.  A delivery carries the generation it
was made for, and acts on its record only while that record is RUNNING at
that generation; otherwise (replaced, cancelled, ended) it is only forgotten.
Every ``now`` and ``lease_until`` is already truncated to milliseconds.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime, timedelta

from docket.engines.base import Claim, ClaimBatch, DeadLetter, Settlement
from docket.engines.memory import gates
from docket.engines.memory.store import QUEUED, RUNNING, SCHEDULED, Delivery, Store, evolve
from docket.states import ExecutionState
from docket.timeutil import utc_ms

__all__ = ["check_settlements", "claim", "release", "renew", "set_aside", "settle"]


def claim(
    store: Store, worker: str, count: int, now: datetime, lease_until: datetime, promote_limit: int
) -> ClaimBatch:
    """Promote due work, reclaim expired leases, then claim queued work in due order."""
    s = store
    promoted = 0
    while s.future and s.future[0][0] <= now and promoted < promote_limit:
        entry = heapq.heappop(s.future)
        record = s.current(entry[2], entry[1], SCHEDULED)
        if record is not None:
            s.put(evolve(record, state=QUEUED))
            heapq.heappush(s.queued, entry)
            promoted += 1
    if promoted:
        s.wake()

    claims: list[Claim] = []
    reclaimed: list[Delivery] = []
    while s.leases and s.leases[0][0] <= now and len(claims) < count:
        expired, _, delivery_id = heapq.heappop(s.leases)
        delivery = s.deliveries.get(delivery_id)
        if delivery is None or delivery.lease_until != expired:
            continue
        record = s.current(delivery.key, delivery.generation, RUNNING)
        if record is None:
            # Its execution was replaced, cancelled or ended meanwhile: nothing to redeliver.
            del s.deliveries[delivery_id]
            continue
        delivery.worker, delivery.lease_until = worker, lease_until
        delivery.count += 1
        reclaimed.append(delivery)
        running = s.put(evolve(record, worker=worker))
        claims.append(Claim(delivery_id, running, redelivered=True, deliveries=delivery.count))
    # Pushed only now so a lease_until <= now cannot be reclaimed twice in one call.
    for delivery in reclaimed:
        heapq.heappush(s.leases, (lease_until, delivery.seq, str(delivery.seq)))

    while s.queued and len(claims) < count:
        entry = heapq.heappop(s.queued)
        record = s.current(entry[2], entry[1], QUEUED)
        if record is None:
            continue
        running = s.put(evolve(record, state=RUNNING, worker=worker, started_at=now))
        seq = next(s.delivery_seqs)
        s.deliveries[str(seq)] = Delivery(record.key, record.generation, worker, lease_until, seq)
        heapq.heappush(s.leases, (lease_until, seq, str(seq)))
        claims.append(Claim(str(seq), running))
    return ClaimBatch(claims, s.next_wake())


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


def check_settlements(settlements: Sequence[Settlement]) -> None:
    """ValueError for a settlement that neither ends nor reschedules its own key."""
    for settlement in settlements:
        if settlement.reschedule is None and not settlement.state.is_terminal:
            raise ValueError(f"a settlement must end in a terminal state, got {settlement.state}")
        if settlement.reschedule is not None and settlement.reschedule.key != settlement.key:
            raise ValueError(
                f"a settlement may only reschedule its own key {settlement.key!r}, "
                f"got {settlement.reschedule.key!r}"
            )


def settle(store: Store, settlements: Sequence[Settlement], now: datetime) -> list[bool]:
    """Acknowledge each delivery and, unless stale, end or reschedule its record."""
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
) -> None:
    """Acknowledge ``delivery``, keep it as a dead letter, and fail the named record."""
    held = store.deliveries.pop(delivery, None)
    fields = {"delivery": delivery}
    if held is not None:
        fields.update(key=held.key, generation=str(held.generation), worker=held.worker)
        source = store.records.get(held.key)
        if source is not None and source.generation == held.generation:
            fields.update(
                function=source.function_name,
                when=source.when.isoformat(),
                attempt=str(source.attempt),
            )
    store.dead.append(
        DeadLetter(
            key=key if key is not None else fields.get("key"),
            function_name=fields.get("function"),
            reason=reason,
            set_aside_at=now,
            fields=fields,
        )
    )
    if key is None and held is not None:
        # As on Redis: a delivery that names the current execution fails it,
        # so a set-aside never leaves its key taken by a RUNNING record.
        key, generation = held.key, held.generation
    record = store.records.get(key) if key is not None else None
    if record is not None and record.generation == generation and record.state.is_live:
        store.end(record, ExecutionState.FAILED, now, ttl, error=reason)
