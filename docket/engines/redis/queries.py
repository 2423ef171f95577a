"""Read-only queries of a Redis docket: records, counts, snapshots, workers, strikes.

The twin of ``memory/queries.py``; none of these change what is stored.
Each is one round trip and bounded by its ``limit`` where it lists things.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from docket.engines.records import (
    ExecutionRecord,
    QueueCounts,
    StorageSnapshot,
    WorkerInfo,
)
from docket.engines.redis.codec import pairs, parse_record
from docket.engines.redis.session import Session
from docket.engines.rules import due_order, has_expired, start_order, worker_order
from docket.timeutil import epoch_ms, epoch_ms_ceiling, from_epoch_ms

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["counts", "get_record", "snapshot", "strikes", "workers"]


async def get_record(session: Session, key: str, now: datetime) -> ExecutionRecord | None:
    """The record under ``key`` unless it has expired by ``now``."""
    record_key = session.keys.record(key)
    fields = cast(
        "dict[bytes, bytes]", await session.read(lambda client: client.hgetall(record_key))
    )
    if not fields:
        return None
    record = parse_record(fields)
    return None if has_expired(record, now) else record


async def counts(session: Session) -> QueueCounts:
    """Future, queued and running work, read in one transaction.

    Queued work is the queue plus stream entries no worker has read yet (every
    read entry holds a lease until it is settled).
    """
    keys = session.keys

    async def read(client: Redis) -> list[Any]:
        async with client.pipeline(transaction=True) as pipe:
            pipe.zcard(keys.future)
            pipe.zcard(keys.queue)
            pipe.xlen(keys.stream)
            pipe.zcard(keys.leases)
            return await pipe.execute()

    future, queue, entries, leased = await session.read(read)
    return QueueCounts(
        future=int(future),
        queued=int(queue) + max(0, int(entries) - int(leased)),
        running=int(leased),
    )


def _records(replies: Sequence[Sequence[bytes]]) -> list[ExecutionRecord]:
    return [parse_record(pairs(reply)) for reply in replies]


def _worker(name: bytes, info: bytes) -> WorkerInfo:
    data = json.loads(info)
    return WorkerInfo(
        name=name.decode(),
        last_seen=from_epoch_ms(int(data["last_seen"])),
        tasks=frozenset(str(task) for task in data["tasks"]),
    )


async def snapshot(session: Session, limit: int) -> StorageSnapshot:
    """Unfinished records (future and queued by due order, running by start) and workers.

    One script (``lua/snapshot.lua``) reads them all at one moment.
    """
    keys = session.keys
    future, queued, running, workers = await session.run(
        "snapshot",
        [keys.future, keys.queue, keys.leases, keys.stream, keys.workers],
        [keys.runs_prefix, max(0, limit)],
    )
    return StorageSnapshot(
        future=sorted(_records(future), key=due_order),
        queued=sorted(_records(queued), key=due_order),
        running=sorted(_records(running), key=start_order),
        workers=sorted(
            (_worker(name, info) for name, info in pairs(workers).items()), key=worker_order
        ),
    )


async def workers(session: Session, now: datetime, dead_after: timedelta) -> list[WorkerInfo]:
    """Workers seen within ``dead_after`` of ``now``, by name."""
    cutoff = from_epoch_ms(epoch_ms_ceiling(from_epoch_ms(epoch_ms(now)) - dead_after))
    workers_key = session.keys.workers
    stored = cast(
        "dict[bytes, bytes]", await session.read(lambda client: client.hgetall(workers_key))
    )
    seen = (_worker(name, info) for name, info in stored.items())
    return sorted((worker for worker in seen if worker.last_seen >= cutoff), key=worker_order)


async def strikes(session: Session) -> dict[str, bytes]:
    """Every strike rule in force, by rule id."""
    strikes_key = session.keys.strikes
    stored = cast(
        "dict[bytes, bytes]", await session.read(lambda client: client.hgetall(strikes_key))
    )
    return {rule_id.decode(): rule for rule_id, rule in stored.items()}
