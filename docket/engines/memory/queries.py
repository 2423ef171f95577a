"""Read-only queries of a memory docket: records, counts, snapshots, workers, dead letters.

The twin of ``redis/queries.py``; none of these change the store.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from docket.engines.base import (
    DeadLetter,
    ExecutionRecord,
    QueueCounts,
    StorageSnapshot,
    WorkerInfo,
)
from docket.engines.memory.store import QUEUED, RUNNING, SCHEDULED, Store
from docket.timeutil import utc_ms

__all__ = ["counts", "dead_letters", "get_record", "snapshot", "workers"]


def get_record(store: Store, key: str, now: datetime) -> ExecutionRecord | None:
    """The record under ``key`` unless it has expired by ``now``."""
    record = store.records.get(key)
    if record is None or (record.expires_at is not None and record.expires_at <= utc_ms(now)):
        return None
    return record


def counts(store: Store) -> QueueCounts:
    """How many records are SCHEDULED, QUEUED and RUNNING."""
    states = Counter(record.state for record in store.records.values())
    return QueueCounts(future=states[SCHEDULED], queued=states[QUEUED], running=states[RUNNING])


def snapshot(store: Store, limit: int) -> StorageSnapshot:
    """Unfinished records (future and queued by due order, running by start) and workers."""
    records = store.records.values()
    due = sorted(
        (r for r in records if r.state in (SCHEDULED, QUEUED)),
        key=lambda r: (r.when, r.generation),
    )
    running = sorted(
        (r for r in records if r.state is RUNNING),
        key=lambda r: (r.started_at or r.when, r.generation),
    )
    return StorageSnapshot(
        future=[r for r in due if r.state is SCHEDULED][:limit],
        queued=[r for r in due if r.state is QUEUED][:limit],
        running=running[:limit],
        workers=sorted(store.workers.values(), key=lambda w: w.name),
    )


def workers(store: Store, now: datetime, dead_after: timedelta) -> list[WorkerInfo]:
    """Workers seen within ``dead_after`` of ``now``, by name."""
    cutoff = utc_ms(now) - dead_after
    return sorted(
        (info for info in store.workers.values() if info.last_seen >= cutoff),
        key=lambda info: info.name,
    )


def dead_letters(store: Store, limit: int) -> list[DeadLetter]:
    """The last ``limit`` dead letters, oldest first."""
    return list(store.dead)[-limit:] if limit > 0 else []
