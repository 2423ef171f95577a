"""The worker's side of a Redis docket: claims, leases, settlements, releases, set-asides, progress.

The twin of ``memory/working.py``.  Each operation is one script call:
``lua/claim.lua`` (promote, reclaim, claim; shared steps in
``claiming.lua``), ``renew.lua``, ``settle.lua`` and ``settle_and_claim.lua``
(shared steps in ``settling.lua``), ``release.lua``, ``set_aside.lua``,
``isolated_run.lua`` and ``progress.lua``.  Work that becomes due in this process notifies the
session's signal, so workers waiting here wake at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from docket.engines.messages import check_settlement
from docket.engines.protocols import DEAD_LETTER_LIMIT, PROMOTE_LIMIT
from docket.engines.records import ClaimBatch, ProgressState, ProgressUpdate, Settlement
from docket.engines.redis.codec import (
    Arg,
    encode_cursor,
    ends,
    gc_after,
    parse_claim,
    parse_progress,
    settlement_args,
)
from docket.engines.redis.keys import GROUP
from docket.engines.redis.session import Session
from docket.timeutil import epoch_ms, from_epoch_ms

__all__ = [
    "claim",
    "count_isolated_run",
    "release",
    "renew",
    "report_progress",
    "set_aside",
    "settle",
    "settle_and_claim",
]


async def claim(
    session: Session,
    worker: str,
    count: int,
    now: datetime,
    lease_until: datetime,
    promote_limit: int,
) -> ClaimBatch:
    """Promote due work, reclaim expired leases, then claim queued work in due order."""
    # Read before the round trip: a notification during it changes the
    # version, and the wait that follows returns at once.
    version = session.signal.version
    keys = session.keys
    reply = await session.run(
        "claim",
        [keys.stream, keys.queue, keys.future, keys.leases, keys.holders, keys.wake],
        [
            GROUP,
            worker,
            max(0, count),
            epoch_ms(now),
            epoch_ms(lease_until),
            max(0, promote_limit),
            keys.runs_prefix,
            keys.events_prefix,
        ],
    )
    return _claimed(session, reply, version, worker, now)


async def settle_and_claim(
    session: Session,
    settlements: Sequence[Settlement],
    worker: str,
    count: int,
    now: datetime,
    lease_until: datetime,
) -> tuple[list[bool], ClaimBatch]:
    """``settle`` then ``claim``, in one script and one round trip (see ``Engine``).

    If the script fails, nothing it claimed reaches the caller: a failing
    settle stops it before its claim, and a claim that fails part way
    leaves what it took to be reclaimed when the leases expire.
    """
    if not settlements:
        return [], await claim(session, worker, count, now, lease_until, PROMOTE_LIMIT)
    version = session.signal.version
    keys = session.keys
    script_keys, settle_args = _settle_keys_and_args(session, settlements)
    claim_args: list[Arg] = [
        worker,
        max(0, count),
        epoch_ms(lease_until),
        PROMOTE_LIMIT,
        keys.runs_prefix,
    ]
    settled, claimed = await session.run(
        "settle_and_claim",
        script_keys,
        [GROUP, epoch_ms(now), keys.events_prefix, *claim_args, *settle_args],
    )
    return _settled(session, settled), _claimed(session, claimed, version, worker, now)


def _claimed(session: Session, reply: Any, version: int, worker: str, now: datetime) -> ClaimBatch:
    """The batch ``worker``'s claim at ``now`` replied, waking this process's
    workers if it queued work."""
    claims, wake_id, left, first_future, first_lease, woke = reply
    if woke:
        session.signal.notify()
    wakes = [int(score) for score in (first_future, first_lease) if score]
    holder, started_at = worker.encode(), str(epoch_ms(now)).encode()
    return ClaimBatch(
        claims=[parse_claim(claim, holder, started_at) for claim in claims],
        next_wake=from_epoch_ms(min(wakes)) if wakes else None,
        cursor=encode_cursor(wake_id.decode(), version, bool(left)),
    )


async def renew(
    session: Session, worker: str, deliveries: Sequence[str], lease_until: datetime
) -> set[str]:
    """Extend the leases ``worker`` still holds; return the deliveries it lost."""
    if not deliveries:
        return set()
    keys = session.keys
    lost = await session.run(
        "renew",
        [keys.leases, keys.holders, keys.stream],
        [worker, epoch_ms(lease_until), keys.runs_prefix, *deliveries],
    )
    return {delivery.decode() for delivery in lost}


async def settle(session: Session, settlements: Sequence[Settlement], now: datetime) -> list[bool]:
    """Acknowledge each delivery and, unless stale, end or reschedule its record."""
    if not settlements:
        return []
    script_keys, args = _settle_keys_and_args(session, settlements)
    reply = await session.run(
        "settle", script_keys, [GROUP, epoch_ms(now), session.keys.events_prefix, *args]
    )
    return _settled(session, reply)


def _settle_keys_and_args(
    session: Session, settlements: Sequence[Settlement]
) -> tuple[list[str], list[Arg]]:
    """The keys of a settle (see ``lua/settling.lua``) and each settlement's values.

    Every settlement is checked before any is sent, so a bad one refuses the batch.
    """
    keys = session.keys
    script_keys = [
        keys.stream,
        keys.queue,
        keys.future,
        keys.leases,
        keys.holders,
        keys.generation,
        keys.wake,
    ]
    args: list[Arg] = []
    for settlement in settlements:
        check_settlement(settlement)
        script_keys.append(keys.record(settlement.key))
        args.extend(settlement_args(settlement, keys))
    return script_keys, args


def _settled(session: Session, reply: Any) -> list[bool]:
    """Which settlements applied, waking this process's workers if one queued work."""
    if reply[-1]:
        session.signal.notify()
    return [bool(applied) for applied in reply[:-1]]


async def release(session: Session, worker: str, deliveries: Sequence[str]) -> int:
    """Return unstarted deliveries of ``worker`` to the queue (see ``Engine``)."""
    if not deliveries:
        return 0
    keys = session.keys
    released = await session.run(
        "release",
        [keys.stream, keys.queue, keys.leases, keys.holders, keys.wake],
        [GROUP, worker, keys.runs_prefix, keys.events_prefix, *deliveries],
    )
    if released:
        # Workers in this process wait on the signal, not on the wake stream.
        session.signal.notify()
    return int(released)


async def set_aside(
    session: Session,
    delivery: str,
    reason: str,
    now: datetime,
    ttl: timedelta,
    key: str | None,
    generation: int | None,
    retention: timedelta,
) -> None:
    """Acknowledge ``delivery``, keep its whole message as a dead letter, and fail its record.

    Without ``key``, the record named by the delivery's stream entry is
    failed when it is still that delivery's execution: a record the worker
    could not read would otherwise keep its key live forever.
    """
    keys = session.keys
    script_keys = [keys.stream, keys.leases, keys.holders, keys.dead]
    if key is not None:
        script_keys.append(keys.record(key))
    retention_ms = max(0, epoch_ms(now + retention) - epoch_ms(now))
    await session.run(
        "set_aside",
        script_keys,
        [
            GROUP,
            keys.runs_prefix,
            keys.events_prefix,
            delivery,
            reason,
            *ends(now, ttl),
            "" if key is None else key,
            "" if generation is None else generation,
            DEAD_LETTER_LIMIT,
            epoch_ms(now + retention),
            retention_ms,
            gc_after(retention_ms),
        ],
    )


async def count_isolated_run(session: Session, key: str, generation: int) -> None:
    """Count a run of the execution at ``key`` starting alone, if it is running at ``generation``."""
    await session.run("isolated_run", [session.keys.record(key)], [generation])


async def report_progress(
    session: Session, key: str, generation: int, update: ProgressUpdate
) -> ProgressState | None:
    """Change a running execution's progress and publish it; None if not running."""
    keys = session.keys
    reply = await session.run(
        "progress",
        [keys.record(key)],
        [
            key,
            generation,
            "" if update.total is None else update.total,
            update.increment,
            "0" if update.message is None else "1",
            "" if update.message is None else update.message,
            keys.events_prefix,
        ],
    )
    return None if reply is None else parse_progress(*reply)
