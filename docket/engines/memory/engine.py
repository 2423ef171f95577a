"""``MemoryEngine``: the ``Engine`` protocol over a ``Store`` in this process.

Each operation is one synchronous step over the store (it never awaits part
way), so it is atomic as a Redis script is.  The steps live beside their
Redis twins: ``working`` (claims, leases, settlements), ``gates`` (flow
control), ``queries`` (reads) and ``listeners``; this module says what each
operation does to the store, and converts every time the caller passes to
whole milliseconds in UTC, as Redis stores it.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from docket.engines import layout
from docket.engines.base import (
    Cancellation,
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
    StorageSnapshot,
    TaskMessage,
    WorkerInfo,
)
from docket.engines.memory import gates, queries, working
from docket.engines.memory.listeners import Subscription, Watch, announce
from docket.engines.memory.store import QUEUED, RUNNING, SCHEDULED, Store, evolve, store_for
from docket.engines.memory.user_data import user_client
from docket.engines.messages import check_message
from docket.states import Disposition, ExecutionState
from docket.timeutil import utc_ms
from docket.urls import redact_url

__all__ = ["MemoryEngine"]


class MemoryEngine:
    """The ``Engine`` protocol over plain Python structures in this process.

    ``MemoryEngine.for_url(url, name)`` shares one store among every engine
    built with that URL and docket name; ``MemoryEngine(url, name)`` builds
    an engine over a fresh store of its own.
    """

    def __init__(
        self, url: str = "memory://", name: str = "docket", *, store: Store | None = None
    ) -> None:
        self.url = url
        self.name = name
        self._s = store if store is not None else Store()

    @classmethod
    def for_url(cls, url: str, name: str) -> MemoryEngine:
        """An engine over the process-wide store for ``(url, name)``."""
        return cls(url, name, store=store_for(url, name))

    def __repr__(self) -> str:
        return f"MemoryEngine(url={redact_url(self.url)!r}, name={self.name!r})"

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release; the store outlives this engine."""

    # --- producing -----------------------------------------------------------

    async def schedule(
        self, message: TaskMessage, now: datetime, *, replace: bool
    ) -> ScheduleResult:
        """Store ``message`` under its key unless a live record holds it (see ``Engine``)."""
        check_message(message)
        now = self._s.tick(now)
        current = self._s.records.get(message.key)
        if current is not None and current.state.is_live and not replace:
            return ScheduleResult(Disposition.ALREADY_SCHEDULED, current)
        # A replaced record's heap entries go stale with its generation; a
        # replaced RUNNING record's settlement is fenced the same way.
        return ScheduleResult(Disposition.SCHEDULED, self._s.store_new(message, now))

    async def schedule_many(
        self, messages: Sequence[TaskMessage], now: datetime, *, replace: bool
    ) -> list[ScheduleResult | Exception]:
        """``schedule`` each message in order; a refused one has its error in its place."""
        results: list[ScheduleResult | Exception] = []
        for message in messages:
            try:
                results.append(await self.schedule(message, now, replace=replace))
            except (ValueError, TypeError) as error:
                results.append(error)
        return results

    async def cancel(self, key: str, now: datetime, ttl: timedelta) -> bool:
        """Cancel SCHEDULED, QUEUED or RUNNING work under ``key``; True if this call did."""
        s = self._s
        now = s.tick(now)
        record = s.records.get(key)
        if record is None or not record.state.is_live:
            return False
        notice = None
        if record.state is RUNNING:
            # Its delivery stays with the worker: the settlement finds the
            # record ended and only acknowledges.
            delivery = s.delivery_of(record)
            holder = s.deliveries[delivery].worker if delivery is not None else record.worker
            notice = Cancellation(key, record.generation, delivery or "", holder)
        s.end(record, ExecutionState.CANCELLED, now, ttl)
        if notice is not None:
            announce(s.cancellation_watchers, notice)
        return True

    async def clear(self, now: datetime, ttl: timedelta) -> int:
        """Cancel every SCHEDULED and QUEUED execution; return how many."""
        s = self._s
        now = s.tick(now)
        pending = [r for r in s.records.values() if r.state in (SCHEDULED, QUEUED)]
        for record in sorted(pending, key=lambda r: (r.when, r.generation)):
            s.end(record, ExecutionState.CANCELLED, now, ttl)
        return len(pending)

    # --- working -------------------------------------------------------------

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
        now = self._s.tick(now)
        return working.claim(self._s, worker, count, now, utc_ms(lease_until), promote_limit)

    async def wait_for_work(self, cursor: str | None) -> None:
        """Return at once if work is queued, else when work is queued or scheduled."""
        s = self._s
        while s.queued and s.current(s.queued[0][2], s.queued[0][1], QUEUED) is None:
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
        return working.renew(self._s, worker, deliveries, utc_ms(lease_until))

    async def settle(self, settlements: Sequence[Settlement], now: datetime) -> list[bool]:
        """Acknowledge each delivery and, unless stale, end or reschedule its record."""
        working.check_settlements(settlements)
        return working.settle(self._s, settlements, self._s.tick(now))

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
        self._s.tick(now)
        return working.release(self._s, worker, deliveries)

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
        now = self._s.tick(now)
        working.set_aside(self._s, delivery, reason, now, ttl, key, generation)

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
        self._s.records[key] = evolve(record, progress=progress)
        announce(self._s.subscribers.get(key, set()), ProgressChange(key, generation, progress))
        return progress

    # --- flow control --------------------------------------------------------

    async def admit(
        self, gate: str, holder: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        """Let ``holder`` through unless ``limit`` others went through in the last ``window``."""
        return gates.admit(self._s, gate, holder, utc_ms(now), window, limit)

    async def withdraw(self, gate: str, holder: str) -> None:
        """Stop counting ``holder`` at ``gate``."""
        gates.withdraw(self._s, gate, holder)

    async def acquire_slot(
        self, gate: str, holder: str, now: datetime, limit: int, lease_until: datetime
    ) -> bool:
        """Take a slot at ``gate`` for ``holder`` until ``lease_until``, if one is free."""
        now = self._s.tick(now)
        return gates.acquire_slot(self._s, gate, holder, now, limit, utc_ms(lease_until))

    async def release_slot(self, gate: str, holder: str, now: datetime, limit: int) -> None:
        """Free ``holder``'s slot at ``gate`` and wake the first run parked there."""
        gates.release_slot(self._s, gate, holder, self._s.tick(now), limit)

    async def debounce(self, gate: str, holder: str, now: datetime, settle: timedelta) -> Debounced:
        """Run the gate's first holder once calls have been quiet for ``settle``."""
        return gates.debounce(self._s, gate, holder, utc_ms(now), settle)

    # --- workers and strikes -------------------------------------------------

    async def heartbeat(
        self, worker: str, tasks: frozenset[str], now: datetime, dead_after: timedelta
    ) -> None:
        """Note ``worker`` alive at ``now``; forget workers silent since ``now - dead_after``."""
        now = utc_ms(now)
        workers = self._s.workers
        workers[worker] = WorkerInfo(worker, now, frozenset(tasks))
        for name in [n for n, info in workers.items() if info.last_seen < now - dead_after]:
            del workers[name]

    async def retire(self, worker: str) -> None:
        """Forget ``worker`` at once."""
        self._s.workers.pop(worker, None)

    async def workers(self, now: datetime, dead_after: timedelta) -> list[WorkerInfo]:
        """Workers seen within ``dead_after`` of ``now``, by name."""
        return queries.workers(self._s, now, dead_after)

    async def update_strikes(self, rule_id: str, rule: bytes | None) -> None:
        """Set or remove one strike rule and notify the watchers."""
        if rule is None:
            self._s.strikes.pop(rule_id, None)
        else:
            self._s.strikes[rule_id] = rule
        announce(self._s.strike_watchers, None)

    async def strikes(self) -> dict[str, bytes]:
        """Every strike rule in force, by rule id."""
        return dict(self._s.strikes)

    def watch_strikes(self) -> AbstractAsyncContextManager[AsyncIterator[None]]:
        """Be told of every change to the strike rules from the moment this is entered."""
        return Watch(self._s.strike_watchers)

    def watch_cancellations(self) -> AbstractAsyncContextManager[AsyncIterator[Cancellation]]:
        """Be told each time ``cancel`` ends running work, from the moment this is entered."""
        return Watch(self._s.cancellation_watchers)

    # --- reading -------------------------------------------------------------

    async def get_record(self, key: str, now: datetime) -> ExecutionRecord | None:
        """The record under ``key`` unless it has expired by ``now``."""
        return queries.get_record(self._s, key, now)

    async def counts(self, now: datetime) -> QueueCounts:
        """How many records are SCHEDULED, QUEUED and RUNNING."""
        return queries.counts(self._s)

    async def snapshot(self, now: datetime, limit: int = 10_000) -> StorageSnapshot:
        """Unfinished records (future and queued by due order, running by start) and workers."""
        return queries.snapshot(self._s, limit)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The last ``limit`` dead letters, oldest first."""
        return queries.dead_letters(self._s, limit)

    def subscribe(self, key: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Listen to ``key``'s state and progress events from the moment the context is entered."""
        return Subscription(self._s, key)

    # --- user data -----------------------------------------------------------

    def user_key(self, suffix: str) -> str:
        """``{name}:suffix``, refused when it names one of the docket's own keys."""
        return layout.user_key(self.name, suffix)

    def redis(self) -> AbstractAsyncContextManager[Any]:
        """A fakeredis client on this store's user data, shared like the store."""
        return user_client(self._s)
