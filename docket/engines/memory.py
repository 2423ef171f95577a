"""The in-memory engine: docket's deterministic twin of the Redis engine.

It owns one store per ``(url, docket name)`` in the process: the execution
records, a heap of future work and a heap of queued work (both ordered by
``(when, generation)``), the outstanding deliveries and their leases, dead
letters, worker heartbeats, event subscribers and waiters for new work.

Nothing here reads a clock, sleeps or starts a thread: every time decision
uses the caller's ``now``, so the same calls give the same results.  Like the
Redis engine it keeps times at millisecond resolution, in UTC.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter, deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from dataclasses import replace as with_changes
from datetime import datetime, timedelta, timezone
from typing import Any

from docket.engines.base import (
    DEBOUNCE_MEMORY,
    Claim,
    ClaimBatch,
    DeadLetter,
    Debounced,
    Event,
    ExecutionRecord,
    ProgressChange,
    ProgressState,
    ProgressUpdate,
    QueueCounts,
    ScheduleResult,
    Settlement,
    SlotWait,
    StateChange,
    StorageSnapshot,
    TaskMessage,
    WorkerInfo,
)
from docket.states import Disposition, ExecutionState

__all__ = ["DEAD_LETTER_LIMIT", "MemoryEngine"]

DEAD_LETTER_LIMIT = 10_000
"""How many dead letters a store keeps; older ones are dropped first."""

SCHEDULED = ExecutionState.SCHEDULED
QUEUED = ExecutionState.QUEUED
RUNNING = ExecutionState.RUNNING

# (when or expires_at, generation, key); generations are unique per store, so
# comparisons never fall through to the key.
_Entry = tuple[datetime, int, str]


def _ms(when: datetime) -> datetime:
    """``when`` in UTC, truncated to whole milliseconds as Redis stores it."""
    if when.tzinfo is not timezone.utc:
        when = when.astimezone(timezone.utc)
    micros = when.microsecond
    if micros % 1000:
        when = when.replace(microsecond=micros - micros % 1000)
    return when


def _evolve(record: ExecutionRecord, **changes: Any) -> ExecutionRecord:
    """A copy of ``record`` with ``changes``: what ``dataclasses.replace`` does.

    Every run passes through here twice, and ``dataclasses.replace`` re-runs
    the generated ``__init__`` over all fields; records are plain frozen
    dataclasses, so copying their attribute dict is equivalent and far cheaper.
    """
    copy = object.__new__(ExecutionRecord)
    attributes = copy.__dict__
    attributes.update(record.__dict__)
    attributes.update(changes)
    return copy


@dataclass
class _Delivery:
    """A claimed message not yet acknowledged, and who holds its lease."""

    key: str
    generation: int
    worker: str
    lease_until: datetime
    seq: int
    # Times handed out: 1 at first, one more for each reclaim.
    count: int = 1


@dataclass
class _Store:
    """Everything one docket holds; shared by every engine opened on it."""

    generations: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    delivery_seqs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    records: dict[str, ExecutionRecord] = field(default_factory=dict)
    future: list[_Entry] = field(default_factory=list)
    queued: list[_Entry] = field(default_factory=list)
    expiries: list[_Entry] = field(default_factory=list)
    deliveries: dict[str, _Delivery] = field(default_factory=dict)
    leases: list[tuple[datetime, int, str]] = field(default_factory=list)
    dead: deque[DeadLetter] = field(default_factory=lambda: deque(maxlen=DEAD_LETTER_LIMIT))
    workers: dict[str, WorkerInfo] = field(default_factory=dict)
    subscribers: dict[str, set[asyncio.Queue[Event]]] = field(default_factory=dict)
    waiters: set[asyncio.Future[None]] = field(default_factory=set)
    strikes: dict[str, bytes] = field(default_factory=dict)
    strike_watchers: set[asyncio.Queue[None]] = field(default_factory=set)
    gates: dict[str, dict[str, datetime]] = field(default_factory=dict)
    debounces: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    slots: dict[str, dict[str, datetime]] = field(default_factory=dict)
    parked: dict[str, deque[tuple[str, int]]] = field(default_factory=dict)


_STORES: dict[tuple[str, str], _Store] = {}


class _Subscription:
    """One subscriber's events for one key, in the order they were published."""

    def __init__(self, store: _Store, key: str) -> None:
        self._store = store
        self._key = key
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    async def __aenter__(self) -> AsyncIterator[Event]:
        self._store.subscribers.setdefault(self._key, set()).add(self._queue)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        queues = self._store.subscribers.get(self._key)
        if queues is not None:
            queues.discard(self._queue)
            if not queues:
                del self._store.subscribers[self._key]

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self._queue.get()


class _StrikeWatch:
    """One listener's notifications that the strike rules changed."""

    def __init__(self, store: _Store) -> None:
        self._store = store
        self._queue: asyncio.Queue[None] = asyncio.Queue()

    async def __aenter__(self) -> AsyncIterator[None]:
        self._store.strike_watchers.add(self._queue)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._store.strike_watchers.discard(self._queue)

    def __aiter__(self) -> _StrikeWatch:
        return self

    async def __anext__(self) -> None:
        await self._queue.get()


class MemoryEngine:
    """The ``Engine`` protocol over plain Python structures in this process.

    ``MemoryEngine.for_url(url, name)`` shares one store among every engine
    built with that URL and docket name; ``MemoryEngine(url, name)`` builds
    an engine over a fresh store of its own.  Heaps use lazy deletion: an
    entry whose record has since moved on (another generation or state) is
    skipped when it surfaces.
    """

    def __init__(
        self, url: str = "memory://", name: str = "docket", *, store: _Store | None = None
    ) -> None:
        self.url = url
        self.name = name
        self._s = store if store is not None else _Store()

    @classmethod
    def for_url(cls, url: str, name: str) -> MemoryEngine:
        """An engine over the process-wide store for ``(url, name)``."""
        store = _STORES.get((url, name))
        if store is None:
            store = _STORES[(url, name)] = _Store()
        return cls(url, name, store=store)

    def __repr__(self) -> str:
        return f"MemoryEngine(url={self.url!r}, name={self.name!r})"

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release; the store outlives this engine."""

    async def schedule(
        self, message: TaskMessage, now: datetime, *, replace: bool
    ) -> ScheduleResult:
        """Store ``message`` under its key unless a live record holds it (see ``Engine``)."""
        now = self._tick(now)
        current = self._s.records.get(message.key)
        if current is not None and current.state.is_live and not replace:
            return ScheduleResult(Disposition.ALREADY_SCHEDULED, current)
        # A replaced record's heap entries go stale with its generation; a
        # replaced RUNNING record's settlement is fenced the same way.
        return ScheduleResult(Disposition.SCHEDULED, self._store_new(message, now))

    async def cancel(self, key: str, now: datetime, ttl: timedelta) -> bool:
        """Cancel SCHEDULED or QUEUED work under ``key``; True if this call did."""
        now = self._tick(now)
        record = self._s.records.get(key)
        if record is None or record.state not in (SCHEDULED, QUEUED):
            return False
        self._end(record, ExecutionState.CANCELLED, now, ttl)
        return True

    async def claim(
        self,
        worker: str,
        count: int,
        now: datetime,
        lease_until: datetime,
        *,
        promote_limit: int = 1000,
    ) -> ClaimBatch:
        """Promote due work, reclaim expired leases, then claim queued work in due order."""
        s = self._s
        now, lease_until = self._tick(now), _ms(lease_until)
        promoted = 0
        while s.future and s.future[0][0] <= now and promoted < promote_limit:
            entry = heapq.heappop(s.future)
            record = self._current(entry[2], entry[1], SCHEDULED)
            if record is not None:
                self._put(_evolve(record, state=QUEUED))
                heapq.heappush(s.queued, entry)
                promoted += 1
        if promoted:
            self._wake()

        claims: list[Claim] = []
        reclaimed: list[_Delivery] = []
        while s.leases and s.leases[0][0] <= now and len(claims) < count:
            expired, _, delivery_id = heapq.heappop(s.leases)
            delivery = s.deliveries.get(delivery_id)
            if delivery is None or delivery.lease_until != expired:
                continue
            record = self._current(delivery.key, delivery.generation, RUNNING)
            if record is None:
                # Its execution was replaced or ended meanwhile: nothing to redeliver.
                del s.deliveries[delivery_id]
                continue
            delivery.worker, delivery.lease_until = worker, lease_until
            delivery.count += 1
            reclaimed.append(delivery)
            running = self._put(_evolve(record, worker=worker))
            claims.append(Claim(delivery_id, running, redelivered=True, deliveries=delivery.count))
        # Pushed only now so a lease_until <= now cannot be reclaimed twice in one call.
        for delivery in reclaimed:
            heapq.heappush(s.leases, (lease_until, delivery.seq, str(delivery.seq)))

        while s.queued and len(claims) < count:
            entry = heapq.heappop(s.queued)
            record = self._current(entry[2], entry[1], QUEUED)
            if record is None:
                continue
            running = self._put(_evolve(record, state=RUNNING, worker=worker, started_at=now))
            seq = next(s.delivery_seqs)
            s.deliveries[str(seq)] = _Delivery(
                record.key, record.generation, worker, lease_until, seq
            )
            heapq.heappush(s.leases, (lease_until, seq, str(seq)))
            claims.append(Claim(str(seq), running))
        return ClaimBatch(claims, self._next_wake())

    async def wait_for_work(self, cursor: str | None) -> None:
        """Return at once if work is queued, else when work is queued or scheduled."""
        s = self._s
        while s.queued and self._current(s.queued[0][2], s.queued[0][1], QUEUED) is None:
            heapq.heappop(s.queued)
        if s.queued:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        s.waiters.add(waiter)
        try:
            await waiter
        finally:
            s.waiters.discard(waiter)

    async def renew(
        self, worker: str, deliveries: Sequence[str], lease_until: datetime
    ) -> set[str]:
        """Extend the leases ``worker`` still holds; return the deliveries it lost."""
        s = self._s
        lease_until = _ms(lease_until)
        lost: set[str] = set()
        for delivery_id in deliveries:
            delivery = s.deliveries.get(delivery_id)
            if delivery is None or delivery.worker != worker:
                lost.add(delivery_id)
            elif delivery.lease_until != lease_until:
                delivery.lease_until = lease_until
                heapq.heappush(s.leases, (lease_until, delivery.seq, delivery_id))
        return lost

    async def settle(self, settlements: Sequence[Settlement], now: datetime) -> list[bool]:
        """Acknowledge each delivery and, unless stale, end or reschedule its record."""
        for settlement in settlements:
            if settlement.reschedule is None and not settlement.state.is_terminal:
                raise ValueError(
                    f"a settlement must end in a terminal state, got {settlement.state}"
                )
            if settlement.reschedule is not None and settlement.reschedule.key != settlement.key:
                raise ValueError(
                    f"a settlement may only reschedule its own key {settlement.key!r}, "
                    f"got {settlement.reschedule.key!r}"
                )
        s = self._s
        now = self._tick(now)
        applied: list[bool] = []
        for settlement in settlements:
            s.deliveries.pop(settlement.delivery, None)
            record = self._current(settlement.key, settlement.generation, RUNNING)
            if record is None:
                applied.append(False)
                continue
            if settlement.reschedule is not None:
                self._reschedule(settlement.reschedule, settlement.wait_for, now)
            else:
                if settlement.started_at is not None:
                    record = _evolve(record, started_at=_ms(settlement.started_at))
                self._end(
                    record,
                    settlement.state,
                    _ms(settlement.completed_at),
                    settlement.ttl,
                    error=settlement.error,
                    result=settlement.result,
                )
            applied.append(True)
        return applied

    async def settle_and_claim(
        self,
        settlements: Sequence[Settlement],
        worker: str,
        count: int,
        now: datetime,
        lease_until: datetime,
    ) -> tuple[list[bool], ClaimBatch]:
        """``settle`` then ``claim`` (see ``Engine``)."""
        applied = await self.settle(settlements, now)
        return applied, await self.claim(worker, count, now, lease_until)

    async def release(self, worker: str, deliveries: Sequence[str], now: datetime) -> int:
        """Return unstarted deliveries of ``worker`` to the queue (see ``Engine``)."""
        s = self._s
        self._tick(now)
        released = 0
        for delivery_id in deliveries:
            delivery = s.deliveries.get(delivery_id)
            if delivery is None or delivery.worker != worker:
                continue
            # Its entry in the lease heap goes stale and is skipped lazily.
            del s.deliveries[delivery_id]
            record = self._current(delivery.key, delivery.generation, RUNNING)
            if record is None:
                continue
            self._put(_evolve(record, state=QUEUED, worker=None, started_at=None))
            heapq.heappush(s.queued, (record.when, record.generation, record.key))
            released += 1
        if released:
            self._wake()
        return released

    async def set_aside(
        self,
        delivery: str,
        reason: str,
        now: datetime,
        ttl: timedelta,
        *,
        key: str | None = None,
        generation: int | None = None,
    ) -> None:
        """Acknowledge ``delivery``, keep it as a dead letter, and fail the named record."""
        s = self._s
        now = self._tick(now)
        held = s.deliveries.pop(delivery, None)
        fields = {"delivery": delivery}
        if held is not None:
            fields.update(key=held.key, generation=str(held.generation), worker=held.worker)
            source = s.records.get(held.key)
            if source is not None and source.generation == held.generation:
                fields.update(
                    function=source.function_name,
                    when=source.when.isoformat(),
                    attempt=str(source.attempt),
                )
        s.dead.append(
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
        record = s.records.get(key) if key is not None else None
        if record is not None and record.generation == generation and record.state.is_live:
            self._end(record, ExecutionState.FAILED, now, ttl, error=reason)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The last ``limit`` dead letters, oldest first."""
        return list(self._s.dead)[-limit:] if limit > 0 else []

    async def get_record(self, key: str, now: datetime) -> ExecutionRecord | None:
        """The record under ``key`` unless it has expired by ``now``."""
        record = self._s.records.get(key)
        if record is None or (record.expires_at is not None and record.expires_at <= _ms(now)):
            return None
        return record

    async def counts(self, now: datetime) -> QueueCounts:
        """How many records are SCHEDULED, QUEUED and RUNNING."""
        states = Counter(record.state for record in self._s.records.values())
        return QueueCounts(future=states[SCHEDULED], queued=states[QUEUED], running=states[RUNNING])

    async def snapshot(self, now: datetime, limit: int = 10_000) -> StorageSnapshot:
        """Unfinished records (future and queued by due order, running by start) and workers."""
        records = self._s.records.values()
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
            workers=sorted(self._s.workers.values(), key=lambda w: w.name),
        )

    async def clear(self, now: datetime, ttl: timedelta) -> int:
        """Cancel every SCHEDULED and QUEUED execution; return how many."""
        now = self._tick(now)
        pending = [r for r in self._s.records.values() if r.state in (SCHEDULED, QUEUED)]
        for record in sorted(pending, key=lambda r: (r.when, r.generation)):
            self._end(record, ExecutionState.CANCELLED, now, ttl)
        return len(pending)

    async def heartbeat(
        self, worker: str, tasks: frozenset[str], now: datetime, dead_after: timedelta
    ) -> None:
        """Note ``worker`` alive at ``now``; forget workers silent since ``now - dead_after``."""
        now = _ms(now)
        workers = self._s.workers
        workers[worker] = WorkerInfo(worker, now, frozenset(tasks))
        for name in [n for n, info in workers.items() if info.last_seen < now - dead_after]:
            del workers[name]

    async def retire(self, worker: str) -> None:
        """Forget ``worker`` at once."""
        self._s.workers.pop(worker, None)

    async def workers(self, now: datetime, dead_after: timedelta) -> list[WorkerInfo]:
        """Workers seen within ``dead_after`` of ``now``, by name."""
        cutoff = _ms(now) - dead_after
        return sorted(
            (info for info in self._s.workers.values() if info.last_seen >= cutoff),
            key=lambda info: info.name,
        )

    async def update_strikes(self, rule_id: str, rule: bytes | None) -> None:
        """Set or remove one strike rule and notify the watchers."""
        if rule is None:
            self._s.strikes.pop(rule_id, None)
        else:
            self._s.strikes[rule_id] = rule
        for queue in self._s.strike_watchers:
            queue.put_nowait(None)

    async def strikes(self) -> dict[str, bytes]:
        """Every strike rule in force, by rule id."""
        return dict(self._s.strikes)

    def watch_strikes(self) -> AbstractAsyncContextManager[AsyncIterator[None]]:
        """Be told of every change to the strike rules from the moment this is entered."""
        return _StrikeWatch(self._s)

    async def report_progress(
        self, key: str, generation: int, update: ProgressUpdate
    ) -> ProgressState | None:
        """Change a running execution's progress and publish it."""
        record = self._s.records.get(key)
        if record is None or record.generation != generation or record.state is not RUNNING:
            return None
        old = record.progress
        progress = ProgressState(
            current=old.current + update.increment,
            total=update.total if update.total is not None else old.total,
            message=update.message if update.message is not None else old.message,
        )
        self._s.records[key] = _evolve(record, progress=progress)
        event = ProgressChange(key, generation, progress)
        for queue in self._s.subscribers.get(key, ()):
            queue.put_nowait(event)
        return progress

    # --- flow control --------------------------------------------------------

    async def admit(
        self, gate: str, holder: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        """Let ``holder`` through unless ``limit`` others went through in the last ``window``."""
        now = _ms(now)
        admitted = {
            name: at for name, at in self._s.gates.get(gate, {}).items() if at + window > now
        }
        if holder in admitted or len(admitted) < limit:
            admitted.setdefault(holder, now)
            self._s.gates[gate] = admitted
            return None
        if admitted:
            self._s.gates[gate] = admitted
        else:
            self._s.gates.pop(gate, None)
        return min(admitted.values()) + window

    async def withdraw(self, gate: str, holder: str) -> None:
        """Stop counting ``holder`` at ``gate``."""
        admitted = self._s.gates.get(gate)
        if admitted is not None:
            admitted.pop(holder, None)
            if not admitted:
                del self._s.gates[gate]

    async def acquire_slot(
        self, gate: str, holder: str, now: datetime, limit: int, lease_until: datetime
    ) -> bool:
        """Take a slot at ``gate`` for ``holder`` until ``lease_until``, if one is free."""
        now = self._tick(now)
        held = self._live_slots(gate, now)
        if holder not in held and len(held) >= limit:
            return False
        held[holder] = _ms(lease_until)
        self._s.slots[gate] = held
        return True

    async def release_slot(self, gate: str, holder: str, now: datetime, limit: int) -> None:
        """Free ``holder``'s slot at ``gate`` and wake the first run parked there."""
        now = self._tick(now)
        held = self._live_slots(gate, now)
        held.pop(holder, None)
        if held:
            self._s.slots[gate] = held
        else:
            self._s.slots.pop(gate, None)
        if len(held) >= limit:
            return
        parked = self._s.parked.get(gate)
        while parked:
            key, generation = parked.popleft()
            record = self._current(key, generation, SCHEDULED)
            if record is not None:
                woken = self._put(_evolve(record, when=now, state=QUEUED))
                heapq.heappush(self._s.queued, (now, woken.generation, woken.key))
                self._wake()
                break
        if not parked:
            self._s.parked.pop(gate, None)

    async def debounce(self, gate: str, holder: str, now: datetime, settle: timedelta) -> Debounced:
        """Run the gate's first holder once calls have been quiet for ``settle``."""
        now = _ms(now)
        held = self._s.debounces.get(gate)
        if held is not None:
            winner, last_seen = held
            if winner == holder:
                if last_seen + settle <= now:
                    del self._s.debounces[gate]
                    return Debounced("run")
                return Debounced("wait", last_seen + settle)
            if last_seen + settle * DEBOUNCE_MEMORY > now:
                self._s.debounces[gate] = (winner, now)
                return Debounced("drop")
        self._s.debounces[gate] = (holder, now)
        return Debounced("wait", now + settle)

    def subscribe(self, key: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Listen to ``key``'s state and progress events from the moment the context is entered."""
        return _Subscription(self._s, key)

    def _store_new(self, message: TaskMessage, now: datetime) -> ExecutionRecord:
        s = self._s
        when = _ms(message.when)
        record = self._put(
            ExecutionRecord(
                key=message.key,
                function_name=message.function_name,
                payload=message.payload,
                when=when,
                attempt=message.attempt,
                headers=dict(message.headers),
                generation=next(s.generations),
                state=QUEUED if when <= now else SCHEDULED,
            )
        )
        heapq.heappush(
            s.queued if record.state is QUEUED else s.future, (when, record.generation, record.key)
        )
        # Future work wakes waiters too: it may fall due before the
        # next_wake they last saw.
        self._wake()
        return record

    def _reschedule(self, message: TaskMessage, wait_for: SlotWait | None, now: datetime) -> None:
        """Store a run's next attempt; with ``wait_for``, park it at that gate unless a slot is free."""
        if wait_for is None:
            self._store_new(message, now)
            return
        if len(self._live_slots(wait_for.gate, now)) < wait_for.limit:
            self._store_new(with_changes(message, when=now), now)
            return
        record = self._store_new(message, now)
        self._s.parked.setdefault(wait_for.gate, deque()).append((record.key, record.generation))

    def _live_slots(self, gate: str, now: datetime) -> dict[str, datetime]:
        """The slots at ``gate`` whose lease has not expired by ``now``."""
        return {
            holder: until for holder, until in self._s.slots.get(gate, {}).items() if until > now
        }

    def _end(
        self,
        record: ExecutionRecord,
        state: ExecutionState,
        completed_at: datetime,
        ttl: timedelta,
        *,
        error: str | None = None,
        result: bytes | None = None,
    ) -> None:
        expires_at = _ms(completed_at + ttl)
        ended = _evolve(
            record,
            state=state,
            completed_at=completed_at,
            error=error,
            result=result,
            expires_at=expires_at,
        )
        if expires_at <= completed_at:
            del self._s.records[record.key]
            self._publish(ended)
        else:
            self._put(ended)
            heapq.heappush(self._s.expiries, (expires_at, record.generation, record.key))

    def _put(self, record: ExecutionRecord) -> ExecutionRecord:
        self._s.records[record.key] = record
        self._publish(record)
        return record

    def _current(self, key: str, generation: int, state: ExecutionState) -> ExecutionRecord | None:
        record = self._s.records.get(key)
        if record is None or record.generation != generation or record.state is not state:
            return None
        return record

    def _tick(self, now: datetime) -> datetime:
        # Reads already hide expired records; dropping them here, on writes,
        # only bounds memory.
        now = _ms(now)
        s = self._s
        while s.expiries and s.expiries[0][0] <= now:
            _, generation, key = heapq.heappop(s.expiries)
            record = s.records.get(key)
            if record is not None and record.generation == generation and record.state.is_terminal:
                del s.records[key]
        return now

    def _next_wake(self) -> datetime | None:
        s = self._s
        while s.future and self._current(s.future[0][2], s.future[0][1], SCHEDULED) is None:
            heapq.heappop(s.future)
        while s.leases and (
            (held := s.deliveries.get(s.leases[0][2])) is None or held.lease_until != s.leases[0][0]
        ):
            heapq.heappop(s.leases)
        return min((heap[0][0] for heap in (s.future, s.leases) if heap), default=None)

    def _publish(self, record: ExecutionRecord) -> None:
        queues = self._s.subscribers.get(record.key)
        if not queues:
            return
        event = StateChange(record.key, record.state, record.generation, record.worker, record.error)
        for queue in queues:
            queue.put_nowait(event)

    def _wake(self) -> None:
        for waiter in self._s.waiters:
            # A store can outlive the event loop a waiter was made on (tests).
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(None)
        self._s.waiters.clear()
