"""Flow-control gates of a Redis docket: sliding windows, debounces and concurrency slots.

The twin of ``memory/gates.py``: each gate is one key (``keys.gate``,
``keys.debounce``, ``keys.slots``; parked runs in ``keys.parked``) changed by
one script (``lua/admit.lua``, ``debounce.lua``, ``acquire_slot.lua``,
``release_slot.lua``).  Decisions are made against the caller's ``now``;
each key expires well after it stops mattering (``codec.gc_after``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from docket.engines.protocols import DEBOUNCE_MEMORY
from docket.engines.records import Debounced
from docket.engines.redis.codec import gc_after
from docket.engines.redis.session import Session
from docket.timeutil import duration_ms, epoch_ms, from_epoch_ms

__all__ = ["acquire_slot", "admit", "debounce", "release_slot", "withdraw"]


async def admit(
    session: Session, gate: str, holder: str, now: datetime, window: timedelta, limit: int
) -> datetime | None:
    """Let ``holder`` through unless ``limit`` others went through in the last ``window``."""
    now_ms, window_ms = epoch_ms(now), duration_ms(window)
    reply = await session.run(
        "admit",
        [session.keys.gate(gate)],
        [holder, now_ms, now_ms - window_ms, limit, gc_after(window_ms)],
    )
    return None if not reply else from_epoch_ms(int(reply)) + window


async def withdraw(session: Session, gate: str, holder: str) -> None:
    """Stop counting ``holder`` at ``gate``."""
    await session.read(lambda client: client.zrem(session.keys.gate(gate), holder))


async def acquire_slot(
    session: Session, gate: str, holder: str, now: datetime, limit: int, lease_until: datetime
) -> bool:
    """Take a slot at ``gate`` for ``holder`` until ``lease_until``, if one is free."""
    now_ms, until_ms = epoch_ms(now), epoch_ms(lease_until)
    reply = await session.run(
        "acquire_slot",
        [session.keys.slots(gate)],
        [holder, now_ms, limit, until_ms, gc_after(max(until_ms - now_ms, 0))],
    )
    return bool(reply)


async def release_slot(session: Session, gate: str, holder: str, now: datetime, limit: int) -> None:
    """Free ``holder``'s slot at ``gate`` and wake the first run parked there."""
    keys = session.keys
    woke = await session.run(
        "release_slot",
        [keys.slots(gate), keys.parked(gate), keys.future, keys.queue, keys.wake],
        [holder, epoch_ms(now), limit, keys.runs_prefix, keys.events_prefix],
    )
    if woke:
        session.signal.notify()


async def debounce(
    session: Session, gate: str, holder: str, now: datetime, settle: timedelta
) -> Debounced:
    """Run the gate's first holder once calls have been quiet for ``settle``."""
    now_ms, settle_ms = epoch_ms(now), duration_ms(settle)
    reply = await session.run(
        "debounce",
        [session.keys.debounce(gate)],
        [
            holder,
            now_ms,
            now_ms - settle_ms,
            now_ms - settle_ms * DEBOUNCE_MEMORY,
            gc_after(settle_ms * DEBOUNCE_MEMORY),
        ],
    )
    verdict = reply[0].decode()
    if verdict == "wait":
        return Debounced("wait", from_epoch_ms(int(reply[1])) + settle)
    return Debounced("run" if verdict == "run" else "drop")
