"""The memory engine's store: everything one docket holds, and the steps every operation shares.

There is one ``Store`` per ``(url, docket name)`` in the process
(``store_for``).  It holds the execution records, a heap of future work and a
heap of queued work (both ordered by ``(when, generation)``), the outstanding
deliveries and their leases, dead letters, worker heartbeats, strike rules,
flow-control gates, listeners, waiters for new work, and the user data
server.  Heaps use lazy deletion: an entry whose record has since moved on
(another generation or state) is skipped when it surfaces.

Nothing here reads a clock: every time is the caller's ``now``, truncated to
milliseconds in UTC as Redis stores it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from docket.engines.protocols import DEAD_LETTER_LIMIT
from docket.engines.records import (
    RECORD_DEFAULTS,
    Cancellation,
    DeadLetter,
    Event,
    ExecutionRecord,
    StateChange,
    TaskMessage,
    WorkerInfo,
)
from docket.frozen import build_frozen, evolve
from docket.racing import Signal
from docket.states import ExecutionState
from docket.timeutil import utc_ms

__all__ = [
    "QUEUED",
    "RUNNING",
    "SCHEDULED",
    "Delivery",
    "Store",
    "docket_names",
    "store_for",
]

SCHEDULED = ExecutionState.SCHEDULED
QUEUED = ExecutionState.QUEUED
RUNNING = ExecutionState.RUNNING

# (when or expires_at, generation, key); generations are unique per store, so
# comparisons never fall through to the key.
Entry = tuple[datetime, int, str]


@dataclass
class Delivery:
    """A claimed message not yet acknowledged, and who holds its lease."""

    key: str
    generation: int
    worker: str
    lease_until: datetime
    seq: int


@dataclass
class Store:
    """Everything one docket holds; shared by every engine opened on it."""

    generations: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    delivery_seqs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    records: dict[str, ExecutionRecord] = field(default_factory=dict)
    future: list[Entry] = field(default_factory=list)
    queued: list[Entry] = field(default_factory=list)
    expiries: list[Entry] = field(default_factory=list)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    leases: list[tuple[datetime, int, str]] = field(default_factory=list)
    dead: deque[DeadLetter] = field(default_factory=lambda: deque(maxlen=DEAD_LETTER_LIMIT))
    dead_seqs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    workers: dict[str, WorkerInfo] = field(default_factory=dict)
    subscribers: dict[str, set[asyncio.Queue[Event]]] = field(default_factory=dict)
    work_arrived: Signal | None = None
    """What ``wait_for_work`` hands out until work arrives (then a new one)."""
    strikes: dict[str, bytes] = field(default_factory=dict)
    strike_watchers: set[asyncio.Queue[None]] = field(default_factory=set)
    cancellation_watchers: set[asyncio.Queue[Cancellation]] = field(default_factory=set)
    gates: dict[str, dict[str, datetime]] = field(default_factory=dict)
    debounces: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    slots: dict[str, dict[str, datetime]] = field(default_factory=dict)
    parked: dict[str, deque[tuple[str, int]]] = field(default_factory=dict)
    # The fakeredis server of the user's own data (see user_data.py), made on first use.
    user_data: Any = None

    def store_new(self, message: TaskMessage, now: datetime) -> ExecutionRecord:
        """Store ``message`` as a new record under a new generation, queued if due."""
        when = utc_ms(message.when)
        record = self.put(
            build_frozen(
                ExecutionRecord,
                RECORD_DEFAULTS,
                key=message.key,
                function_name=message.function_name,
                payload=message.payload,
                when=when,
                attempt=message.attempt,
                headers=dict(message.headers),
                generation=next(self.generations),
                state=QUEUED if when <= now else SCHEDULED,
            )
        )
        heapq.heappush(
            self.queued if record.state is QUEUED else self.future,
            (when, record.generation, record.key),
        )
        # Future work wakes waiters too: it may fall due before the
        # next_wake they last saw.
        self.wake()
        return record

    def end(
        self,
        record: ExecutionRecord,
        state: ExecutionState,
        completed_at: datetime,
        ttl: timedelta,
        *,
        error: str | None = None,
        result: bytes | None = None,
    ) -> None:
        """End ``record`` in ``state``, kept until ``completed_at + ttl`` (a zero ttl forgets it)."""
        expires_at = utc_ms(completed_at + ttl)
        ended = evolve(
            record,
            state=state,
            completed_at=completed_at,
            error=error,
            result=result,
            expires_at=expires_at,
        )
        if expires_at <= completed_at:
            del self.records[record.key]
            self.publish(ended)
        else:
            self.put(ended)
            heapq.heappush(self.expiries, (expires_at, record.generation, record.key))

    def put(self, record: ExecutionRecord) -> ExecutionRecord:
        """Store ``record`` and publish its state."""
        self.records[record.key] = record
        self.publish(record)
        return record

    def current(self, key: str, generation: int, state: ExecutionState) -> ExecutionRecord | None:
        """The record under ``key`` if it is at ``generation`` in ``state``, else None."""
        record = self.records.get(key)
        if record is None or record.generation != generation or record.state is not state:
            return None
        return record

    def tick(self, now: datetime) -> datetime:
        """``now`` to the millisecond, after forgetting the records expired by then."""
        # Reads already hide expired records; dropping them here, on writes,
        # only bounds memory.
        now = utc_ms(now)
        expiries, records = self.expiries, self.records
        while expiries and expiries[0][0] <= now:
            _, generation, key = heapq.heappop(expiries)
            record = records.get(key)
            if record is not None and record.generation == generation and record.state.is_terminal:
                del records[key]
        return now

    def next_wake(self) -> datetime | None:
        """The earliest future due time or lease expiry, if any."""
        future, leases = self.future, self.leases
        while future and self.current(future[0][2], future[0][1], SCHEDULED) is None:
            heapq.heappop(future)
        while leases and (
            (held := self.deliveries.get(leases[0][2])) is None or held.lease_until != leases[0][0]
        ):
            heapq.heappop(leases)
        return min((heap[0][0] for heap in (future, leases) if heap), default=None)

    def delivery_of(self, record: ExecutionRecord) -> str | None:
        """The outstanding delivery of ``record``'s generation, if any."""
        for delivery_id, delivery in self.deliveries.items():
            if delivery.key == record.key and delivery.generation == record.generation:
                return delivery_id
        return None

    def publish(self, record: ExecutionRecord) -> None:
        """Tell the key's subscribers of ``record``'s state."""
        queues = self.subscribers.get(record.key)
        if not queues:
            return
        event = StateChange(
            record.key, record.state, record.generation, record.worker, record.error
        )
        for queue in queues:
            queue.put_nowait(event)

    def wake(self) -> None:
        """Wake every worker waiting for work."""
        arrived, self.work_arrived = self.work_arrived, None
        if arrived is not None:
            # A store can outlive the event loop a wait was made on (tests):
            # a signal's set wakes the waits whose loop still runs.
            arrived.set()


_STORES: dict[tuple[str, str], Store] = {}


def has_store(url: str, name: str) -> bool:
    """Whether the process holds a store for docket ``name`` at ``url``."""
    return (url, name) in _STORES


def docket_names(url: str) -> list[str]:
    """The names of the dockets the process holds a store for at ``url``, sorted."""
    return sorted(name for at, name in _STORES if at == url)


def discard_store(url: str, name: str) -> None:
    """Forget the store of docket ``name`` at ``url`` (the next engine opened starts empty)."""
    _STORES.pop((url, name), None)


def store_for(url: str, name: str) -> Store:
    """The process-wide store of docket ``name`` at ``url``."""
    store = _STORES.get((url, name))
    if store is None:
        store = _STORES[(url, name)] = Store()
    return store
