"""Read-only queries of a memory docket: records, counts, snapshots, workers, strikes.

The twin of ``redis/queries.py``; none of these change the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from docket.engines.memory.store import QUEUED, RUNNING, SCHEDULED, Store
from docket.engines.records import (
    ExecutionRecord,
    QueueCounts,
    StorageSnapshot,
    WorkerInfo,
)
from docket.engines.rules import due_order, has_expired, start_order, worker_order
from docket.timeutil import utc_ms

__all__ = ["counts", "get_record", "snapshot", "strikes", "workers"]


def get_record(store: Store, key: str, now: datetime) -> ExecutionRecord | None:
    """The record under ``key`` unless it has expired by ``now``."""
    record = store.records.get(key)
    if record is None or has_expired(record, now):
        return None
    return record


def counts(store: Store) -> QueueCounts:
    """How many records are SCHEDULED, QUEUED and RUNNING."""
    # A plain loop: a worker asks on every heartbeat, and Counter costs more
    # than the counting itself for a small store.
    future = queued = running = 0
    for record in store.records.values():
        state = record.state
        if state is SCHEDULED:
            future += 1
        elif state is QUEUED:
            queued += 1
        elif state is RUNNING:
            running += 1
    return QueueCounts(future=future, queued=queued, running=running)


def snapshot(store: Store, limit: int) -> StorageSnapshot:
    """Unfinished records (future and queued by due order, running by start) and workers."""
    records = store.records.values()
    due = sorted(
        (record for record in records if record.state in (SCHEDULED, QUEUED)), key=due_order
    )
    running = sorted((record for record in records if record.state is RUNNING), key=start_order)
    return StorageSnapshot(
        future=[record for record in due if record.state is SCHEDULED][:limit],
        queued=[record for record in due if record.state is QUEUED][:limit],
        running=running[:limit],
        workers=sorted(store.workers.values(), key=worker_order),
    )


def workers(store: Store, now: datetime, dead_after: timedelta) -> list[WorkerInfo]:
    """Workers seen within ``dead_after`` of ``now``, by name."""
    cutoff = utc_ms(now) - dead_after
    return sorted(
        (info for info in store.workers.values() if info.last_seen >= cutoff), key=worker_order
    )


def strikes(store: Store) -> dict[str, bytes]:
    """Every strike rule in force, by rule id (a copy the caller may keep)."""
    return dict(store.strikes)
