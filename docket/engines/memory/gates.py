"""Flow-control gates of a memory docket: sliding windows, debounces and concurrency slots.

The twins of ``lua/admit.lua``, ``debounce.lua``, ``acquire_slot.lua`` and
``release_slot.lua``, and of the parking of a run at a concurrency gate in
``settling.lua``.  Every ``now`` is already truncated to milliseconds.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import replace as with_changes
from datetime import datetime, timedelta

from docket.engines.memory.store import QUEUED, SCHEDULED, Store
from docket.engines.protocols import DEBOUNCE_MEMORY
from docket.engines.records import Debounced, SlotWait, TaskMessage
from docket.frozen import evolve

__all__ = ["acquire_slot", "admit", "debounce", "release_slot", "reschedule", "withdraw"]


def admit(
    store: Store, gate: str, holder: str, now: datetime, window: timedelta, limit: int
) -> datetime | None:
    """Let ``holder`` through unless ``limit`` others went through in the last ``window``."""
    admitted = {name: at for name, at in store.gates.get(gate, {}).items() if at + window > now}
    if holder in admitted or len(admitted) < limit:
        admitted.setdefault(holder, now)
        store.gates[gate] = admitted
        return None
    if admitted:
        store.gates[gate] = admitted
    else:
        store.gates.pop(gate, None)
    return min(admitted.values()) + window


def withdraw(store: Store, gate: str, holder: str) -> None:
    """Stop counting ``holder`` at ``gate``."""
    admitted = store.gates.get(gate)
    if admitted is not None:
        admitted.pop(holder, None)
        if not admitted:
            del store.gates[gate]


def debounce(store: Store, gate: str, holder: str, now: datetime, settle: timedelta) -> Debounced:
    """Run the gate's first holder once calls have been quiet for ``settle``."""
    held = store.debounces.get(gate)
    if held is not None:
        winner, last_seen = held
        if winner == holder:
            if last_seen + settle <= now:
                del store.debounces[gate]
                return Debounced("run")
            return Debounced("wait", last_seen + settle)
        if last_seen + settle * DEBOUNCE_MEMORY > now:
            store.debounces[gate] = (winner, now)
            return Debounced("drop")
    store.debounces[gate] = (holder, now)
    return Debounced("wait", now + settle)


def acquire_slot(
    store: Store, gate: str, holder: str, now: datetime, limit: int, lease_until: datetime
) -> bool:
    """Take a slot at ``gate`` for ``holder`` until ``lease_until``, if one is free."""
    held = _live_slots(store, gate, now)
    if holder not in held and len(held) >= limit:
        return False
    held[holder] = lease_until
    store.slots[gate] = held
    return True


def release_slot(store: Store, gate: str, holder: str, now: datetime, limit: int) -> None:
    """Free ``holder``'s slot at ``gate`` and wake the first run parked there."""
    held = _live_slots(store, gate, now)
    held.pop(holder, None)
    if held:
        store.slots[gate] = held
    else:
        store.slots.pop(gate, None)
    if len(held) >= limit:
        return
    parked = store.parked.get(gate)
    while parked:
        key, generation = parked.popleft()
        record = store.current(key, generation, SCHEDULED)
        if record is not None:
            woken = store.put(evolve(record, when=now, state=QUEUED))
            heapq.heappush(store.queued, (now, woken.generation, woken.key))
            store.wake()
            break
    if not parked:
        store.parked.pop(gate, None)


def reschedule(
    store: Store, message: TaskMessage, wait_for: SlotWait | None, now: datetime
) -> None:
    """Store a run's next attempt; with ``wait_for``, park it at that gate unless a slot is free."""
    if wait_for is None:
        store.store_new(message, now)
        return
    if len(_live_slots(store, wait_for.gate, now)) < wait_for.limit:
        store.store_new(with_changes(message, when=now), now)
        return
    record = store.store_new(message, now)
    store.parked.setdefault(wait_for.gate, deque()).append((record.key, record.generation))


def _live_slots(store: Store, gate: str, now: datetime) -> dict[str, datetime]:
    """The slots at ``gate`` whose lease has not expired by ``now``."""
    return {holder: until for holder, until in store.slots.get(gate, {}).items() if until > now}
