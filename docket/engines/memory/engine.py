"""``MemoryEngine``: the ``Engine`` protocol over a ``Store`` in this process.

Each operation is one synchronous step over the store (it never awaits part
way), so it is atomic as a Redis script is.  This module says which step
serves each operation, and converts every time the caller passes to whole
milliseconds in UTC, as Redis stores it; the steps live beside their Redis
twins, in modules of the same names: ``scheduling`` (schedule, cancel,
clear), ``working`` (claims, leases, settlements, set-asides, progress),
``gates`` (flow control), ``queries`` (reads), ``dead_letters`` (keeping,
listing, reading and removing letters), ``listeners`` (events, strikes,
cancellations) and ``user_data``.  Heartbeats and strike rules are
short enough to stay here, as they do in ``redis/engine.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from docket.engines import layout
from docket.engines.memory import dead_letters, gates, queries, scheduling, working
from docket.engines.memory.listeners import Subscription, Watch, announce
from docket.engines.memory.store import Store, store_for
from docket.engines.memory.user_data import user_client
from docket.engines.protocols import DEAD_LETTER_RETENTION, PROMOTE_LIMIT
from docket.engines.records import (
    Cancellation,
    ClaimBatch,
    DeadLetter,
    Debounced,
    Event,
    ExecutionRecord,
    ProgressState,
    ProgressUpdate,
    QueueCounts,
    Settlement,
    StorageSnapshot,
    TaskMessage,
    WorkerInfo,
)
from docket.engines.schedule_result import ScheduleResult
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
        self._store = store if store is not None else Store()

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

    # --- producing (scheduling.py) ---------------------------------------------

    async def schedule(
        self, message: TaskMessage, now: datetime, *, replace: bool
    ) -> ScheduleResult:
        """Store ``message`` under its key unless a live record holds it (see ``Engine``)."""
        return scheduling.schedule(self._store, message, self._store.tick(now), replace)

    async def schedule_many(
        self, messages: Sequence[TaskMessage], now: datetime, *, replace: bool
    ) -> list[ScheduleResult | Exception]:
        """``schedule`` each message in order; a refused one has its error in its place."""
        return scheduling.schedule_many(self._store, messages, self._store.tick(now), replace)

    async def cancel(self, key: str, now: datetime, ttl: timedelta) -> bool:
        """Cancel SCHEDULED, QUEUED or RUNNING work under ``key``; True if this call did."""
        return scheduling.cancel(self._store, key, self._store.tick(now), ttl)

    async def cancel_many(self, keys: Sequence[str], now: datetime, ttl: timedelta) -> list[bool]:
        """``cancel`` each key in order; True where this call cancelled."""
        return scheduling.cancel_many(self._store, keys, self._store.tick(now), ttl)

    async def clear(self, now: datetime, ttl: timedelta) -> int:
        """Cancel every SCHEDULED and QUEUED execution; return how many."""
        return scheduling.clear(self._store, self._store.tick(now), ttl)

    # --- working (working.py) --------------------------------------------------

    async def claim(
        self,
        worker: str,
        count: int,
        now: datetime,
        lease_until: datetime,
        *,
        promote_limit: int = PROMOTE_LIMIT,
    ) -> ClaimBatch:
        """Promote due work, reclaim expired leases, then claim queued work in due order."""
        now = self._store.tick(now)
        return working.claim(self._store, worker, count, now, utc_ms(lease_until), promote_limit)

    async def settle_and_claim(
        self,
        settlements: Sequence[Settlement],
        worker: str,
        count: int,
        now: datetime,
        lease_until: datetime,
    ) -> tuple[list[bool], ClaimBatch]:
        """``settle`` then ``claim`` (see ``Engine``)."""
        store = self._store
        now = store.tick(now)
        applied = working.settle(store, settlements, now)
        lease_until = utc_ms(lease_until)
        return applied, working.claim(store, worker, count, now, lease_until, PROMOTE_LIMIT)

    def wait_for_work(self, cursor: str | None) -> Awaitable[None]:
        """Ends at once (after a turn of the loop) if work is queued, else when
        work is queued or scheduled: a plain future, unless work is queued."""
        return working.wait_for_work(self._store)

    async def renew(
        self, worker: str, deliveries: Sequence[str], lease_until: datetime
    ) -> set[str]:
        """Extend the leases ``worker`` still holds; return the deliveries it lost."""
        return working.renew(self._store, worker, deliveries, utc_ms(lease_until))

    async def settle(self, settlements: Sequence[Settlement], now: datetime) -> list[bool]:
        """Acknowledge each delivery and, unless stale, end or reschedule its record."""
        return working.settle(self._store, settlements, self._store.tick(now))

    async def release(self, worker: str, deliveries: Sequence[str], now: datetime) -> int:
        """Return unstarted deliveries of ``worker`` to the queue (see ``Engine``)."""
        self._store.tick(now)
        return working.release(self._store, worker, deliveries)

    async def count_isolated_run(self, key: str, generation: int) -> None:
        """Count a suspected execution's run starting alone (see ``Engine``)."""
        working.count_isolated_run(self._store, key, generation)

    async def set_aside(
        self,
        delivery: str,
        reason: str,
        now: datetime,
        ttl: timedelta,
        *,
        key: str | None = None,
        generation: int | None = None,
        retention: timedelta = DEAD_LETTER_RETENTION,
    ) -> None:
        """Acknowledge ``delivery``, keep it whole as a dead letter, and fail the named record."""
        now = self._store.tick(now)
        working.set_aside(self._store, delivery, reason, now, ttl, key, generation, retention)

    async def report_progress(
        self, key: str, generation: int, update: ProgressUpdate
    ) -> ProgressState | None:
        """Change a running execution's progress and publish it; None if not running."""
        return working.report_progress(self._store, key, generation, update)

    # --- flow control (gates.py) -----------------------------------------------

    async def admit(
        self, gate: str, holder: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        """Let ``holder`` through unless ``limit`` others went through in the last ``window``."""
        return gates.admit(self._store, gate, holder, utc_ms(now), window, limit)

    async def withdraw(self, gate: str, holder: str) -> None:
        """Stop counting ``holder`` at ``gate``."""
        gates.withdraw(self._store, gate, holder)

    async def acquire_slot(
        self, gate: str, holder: str, now: datetime, limit: int, lease_until: datetime
    ) -> bool:
        """Take a slot at ``gate`` for ``holder`` until ``lease_until``, if one is free."""
        now = self._store.tick(now)
        return gates.acquire_slot(self._store, gate, holder, now, limit, utc_ms(lease_until))

    async def release_slot(self, gate: str, holder: str, now: datetime, limit: int) -> None:
        """Free ``holder``'s slot at ``gate`` and wake the first run parked there."""
        gates.release_slot(self._store, gate, holder, self._store.tick(now), limit)

    async def debounce(self, gate: str, holder: str, now: datetime, settle: timedelta) -> Debounced:
        """Run the gate's first holder once calls have been quiet for ``settle``."""
        return gates.debounce(self._store, gate, holder, utc_ms(now), settle)

    # --- workers and strikes ---------------------------------------------------

    async def heartbeat(
        self, worker: str, tasks: frozenset[str], now: datetime, dead_after: timedelta
    ) -> None:
        """Note ``worker`` alive at ``now``; forget workers silent since ``now - dead_after``."""
        now = utc_ms(now)
        workers = self._store.workers
        workers[worker] = WorkerInfo(worker, now, frozenset(tasks))
        for name in [name for name, info in workers.items() if info.last_seen < now - dead_after]:
            del workers[name]

    async def retire(self, worker: str) -> None:
        """Forget ``worker`` at once."""
        self._store.workers.pop(worker, None)

    async def workers(self, now: datetime, dead_after: timedelta) -> list[WorkerInfo]:
        """Workers seen within ``dead_after`` of ``now``, by name."""
        return queries.workers(self._store, now, dead_after)

    async def update_strikes(self, rule_id: str, rule: bytes | None) -> None:
        """Set (or, with ``rule`` None, remove) one strike rule and notify the watchers."""
        if rule is None:
            self._store.strikes.pop(rule_id, None)
        else:
            self._store.strikes[rule_id] = rule
        announce(self._store.strike_watchers, None)

    async def strikes(self) -> dict[str, bytes]:
        """Every strike rule in force, by rule id."""
        return queries.strikes(self._store)

    def watch_strikes(self) -> AbstractAsyncContextManager[AsyncIterator[None]]:
        """Be told of every change to the strike rules from the moment this is entered."""
        return Watch(self._store.strike_watchers)

    def watch_cancellations(self) -> AbstractAsyncContextManager[AsyncIterator[Cancellation]]:
        """Be told each time ``cancel`` ends running work, from the moment this is entered."""
        return Watch(self._store.cancellation_watchers)

    # --- reading (queries.py, listeners.py) ------------------------------------

    async def get_record(self, key: str, now: datetime) -> ExecutionRecord | None:
        """The record under ``key`` unless it has expired by ``now``."""
        return queries.get_record(self._store, key, now)

    async def counts(self, now: datetime) -> QueueCounts:
        """How many records are SCHEDULED, QUEUED and RUNNING."""
        return queries.counts(self._store)

    async def snapshot(self, now: datetime, limit: int = 10_000) -> StorageSnapshot:
        """Unfinished records (future and queued by due order, running by start) and workers."""
        return queries.snapshot(self._store, limit)

    # --- dead letters (dead_letters.py) ----------------------------------------

    async def dead_letters(self, limit: int = 100, now: datetime | None = None) -> list[DeadLetter]:
        """The last ``limit`` dead letters (unexpired at ``now``, if given), oldest first."""
        return dead_letters.dead_letters(self._store, limit, None if now is None else utc_ms(now))

    async def dead_letter(self, letter_id: str, now: datetime) -> DeadLetter | None:
        """The letter ``letter_id`` unless it is unknown or has expired by ``now``."""
        return dead_letters.dead_letter(self._store, letter_id, utc_ms(now))

    async def remove_dead_letters(self, letter_ids: Sequence[str]) -> int:
        """Remove each letter named; return how many were there."""
        return dead_letters.remove(self._store, letter_ids)

    def subscribe(self, key: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Listen to ``key``'s state and progress events from the moment the context is entered."""
        return Subscription(self._store, key)

    # --- user data (user_data.py) ----------------------------------------------

    def user_key(self, suffix: str) -> str:
        """``{name}:suffix``, refused when it names one of the docket's own keys."""
        return layout.user_key(self.name, suffix)

    def redis(self) -> AbstractAsyncContextManager[Any]:
        """A fakeredis client on this store's user data, shared like the store."""
        return user_client(self._store)
