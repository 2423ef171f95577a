"""Read-only queries of the Redis engine: records, counts, workers, dead letters.

Each is one round trip and bounded by its ``limit`` where it lists things.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from docket.engines.base import (
    DeadLetter,
    ExecutionRecord,
    QueueCounts,
    StorageSnapshot,
    WorkerInfo,
)
from docket.engines.redis.codec import decode_fields, pairs, parse_record
from docket.engines.redis.keys import DocketKeys
from docket.timeutil import epoch_ms, epoch_ms_ceiling, from_epoch_ms

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["counts", "dead_letters", "get_record", "parse_snapshot", "workers"]

_FIELD = b"field:"


async def get_record(
    client: Redis, keys: DocketKeys, key: str, now: datetime
) -> ExecutionRecord | None:
    """The record under ``key`` unless it has expired by ``now``."""
    fields = cast("dict[bytes, bytes]", await client.hgetall(keys.record(key)))
    if not fields:
        return None
    record = parse_record(fields)
    if record.expires_at is not None and epoch_ms(record.expires_at) <= epoch_ms(now):
        return None
    return record


async def counts(client: Redis, keys: DocketKeys) -> QueueCounts:
    """Future, queued and running work, read in one transaction.

    Queued work is the queue plus stream entries no worker has read yet (every
    read entry holds a lease until it is settled).
    """
    async with client.pipeline(transaction=True) as pipe:
        pipe.zcard(keys.future)
        pipe.zcard(keys.queue)
        pipe.xlen(keys.stream)
        pipe.zcard(keys.leases)
        future, queue, entries, leased = await pipe.execute()
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


def parse_snapshot(reply: Sequence[Any]) -> StorageSnapshot:
    """The reply of ``lua/snapshot.lua`` as a snapshot."""
    future, queued, running, workers = reply
    return StorageSnapshot(
        future=sorted(_records(future), key=lambda r: (r.when, r.generation)),
        queued=sorted(_records(queued), key=lambda r: (r.when, r.generation)),
        running=sorted(_records(running), key=lambda r: (r.started_at or r.when, r.generation)),
        workers=sorted(
            (_worker(name, info) for name, info in pairs(workers).items()), key=lambda w: w.name
        ),
    )


async def workers(
    client: Redis, keys: DocketKeys, now: datetime, dead_after: timedelta
) -> list[WorkerInfo]:
    """Workers seen within ``dead_after`` of ``now``, by name."""
    cutoff = from_epoch_ms(epoch_ms_ceiling(from_epoch_ms(epoch_ms(now)) - dead_after))
    stored = cast("dict[bytes, bytes]", await client.hgetall(keys.workers))
    seen = (_worker(name, info) for name, info in stored.items())
    return sorted((w for w in seen if w.last_seen >= cutoff), key=lambda w: w.name)


async def dead_letters(client: Redis, keys: DocketKeys, limit: int) -> list[DeadLetter]:
    """The last ``limit`` dead letters, oldest first."""
    if limit <= 0:
        return []
    entries = cast(
        "list[tuple[bytes, dict[bytes, bytes]]]", await client.xrevrange(keys.dead, count=limit)
    )
    letters = []
    for _, stored in reversed(entries):
        fields = {
            name[len(_FIELD) :]: value for name, value in stored.items() if name.startswith(_FIELD)
        }
        fields[b"delivery"] = stored.get(b"delivery", b"")
        if b"worker" in stored:
            fields[b"worker"] = stored[b"worker"]
        key = stored.get(b"key", b"").decode("utf-8", "backslashreplace")
        function = stored.get(b"function", b"").decode("utf-8", "backslashreplace")
        letters.append(
            DeadLetter(
                key=key or None,
                function_name=function or None,
                reason=stored[b"reason"].decode("utf-8", "backslashreplace"),
                set_aside_at=from_epoch_ms(int(stored[b"set_aside_at"])),
                fields=decode_fields(fields),
            )
        )
    return letters
