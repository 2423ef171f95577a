"""``RedisEngine``: the ``Engine`` protocol on Redis.

Where work waits (see ``keys.py`` for every key):

* SCHEDULED work sits in the ``future`` sorted set and QUEUED work in the
  ``queue`` sorted set, both scored by ``when`` with ties in generation
  order, so due work is handed out in exact ``(when, generation)`` order.  (A
  stream cannot do that: it is ordered by arrival, and work scheduled for an
  earlier ``when`` can arrive later.)
* A claim moves the first queued records into the ``stream`` and reads them
  through the consumer group, whose pending list tracks every delivery until
  it is settled.  Leases are a sorted set of delivery deadlines on the
  caller's clock, so expiry never depends on Redis's clock.

Every transition is one Lua script (``lua/``), called by hash: ``schedule``,
``cancel``, ``claim`` and ``clear`` take one round trip each; ``settle``,
``renew`` and ``cancel_many`` one per batch, and ``schedule_many`` pipelines
one schedule per message in one round trip.  Times always come from the caller's ``now``.

This module says which step serves each operation; the steps live beside
their memory twins, in modules of the same names: ``scheduling`` (schedule,
cancel, clear), ``working`` (claims, leases, settlements, set-asides,
progress), ``gates`` (flow control), ``queries`` (reads), ``dead_letters``
(listing, reading and removing letters), ``listeners`` (events over
pub/sub) and ``user_data``.  Heartbeats and strike rules are
short enough to stay here, as they do in ``memory/engine.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from docket.engines import layout
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
from docket.engines.redis import dead_letters, gates, queries, scheduling, working
from docket.engines.redis.codec import parse_cancellation, parse_event, parse_strike_change
from docket.engines.redis.connections import check_url
from docket.engines.redis.keys import GROUP, DocketKeys
from docket.engines.redis.session import Session
from docket.engines.redis.user_data import user_client
from docket.engines.schedule_result import ScheduleResult
from docket.timeutil import epoch_ms, epoch_ms_ceiling, from_epoch_ms
from docket.urls import redact_url

__all__ = ["RedisEngine"]


class RedisEngine:
    """The ``Engine`` protocol over one Redis server (or fakeredis)."""

    def __init__(self, url: str, name: str, *, credential_provider: Any | None = None) -> None:
        self.url = url
        self.name = name
        self.keys = DocketKeys(name)
        self._session = Session(url, self.keys, credential_provider=credential_provider)

    @classmethod
    def from_url(
        cls, url: str, name: str, *, credential_provider: Any | None = None
    ) -> RedisEngine:
        """The engine of docket ``name`` at a ``redis://``, ``rediss://``,
        ``redis+sentinel://``, ``redis+cluster://`` or ``fakeredis://NAME`` URL
        (not connected until ``open``).  A malformed sentinel or cluster URL is
        refused here (see ``connections.check_url``)."""
        check_url(url)
        return cls(url, name, credential_provider=credential_provider)

    def __repr__(self) -> str:
        return f"RedisEngine(url={redact_url(self.url)!r}, name={self.name!r})"

    async def open(self) -> None:
        """Connect, load the scripts and create the consumer group if missing."""
        await self._session.open()

    async def close(self) -> None:
        """Stop the blocking read and release every connection; data stays."""
        await self._session.close()

    # --- producing (scheduling.py) ---------------------------------------------

    async def schedule(
        self, message: TaskMessage, now: datetime, *, replace: bool
    ) -> ScheduleResult:
        """Store ``message`` under its key unless a live record holds it (see ``Engine``)."""
        return await scheduling.schedule(self._session, message, now, replace)

    async def schedule_many(
        self, messages: Sequence[TaskMessage], now: datetime, *, replace: bool
    ) -> list[ScheduleResult | Exception]:
        """``schedule`` each message, pipelined in one round trip; errors come back in place."""
        return await scheduling.schedule_many(self._session, messages, now, replace)

    async def cancel(self, key: str, now: datetime, ttl: timedelta) -> bool:
        """Cancel SCHEDULED, QUEUED or RUNNING work under ``key``; True if this call did."""
        return await scheduling.cancel(self._session, key, now, ttl)

    async def cancel_many(self, keys: Sequence[str], now: datetime, ttl: timedelta) -> list[bool]:
        """``cancel`` each key in order, in one script call; True where this call cancelled."""
        return await scheduling.cancel_many(self._session, keys, now, ttl)

    async def clear(self, now: datetime, ttl: timedelta) -> int:
        """Cancel every SCHEDULED and QUEUED execution; return how many."""
        return await scheduling.clear(self._session, now, ttl)

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
        return await working.claim(self._session, worker, count, now, lease_until, promote_limit)

    async def settle_and_claim(
        self,
        settlements: Sequence[Settlement],
        worker: str,
        count: int,
        now: datetime,
        lease_until: datetime,
    ) -> tuple[list[bool], ClaimBatch]:
        """``settle`` then ``claim``, in one script and one round trip (see ``Engine``)."""
        return await working.settle_and_claim(
            self._session, settlements, worker, count, now, lease_until
        )

    async def wait_for_work(self, cursor: str | None) -> None:
        """Return when queued work may have arrived since ``cursor`` (see ``Engine``).

        Cancelling the caller never cancels the shared blocking read.
        """
        await self._session.wait(cursor)

    async def renew(
        self, worker: str, deliveries: Sequence[str], lease_until: datetime
    ) -> set[str]:
        """Extend the leases ``worker`` still holds; return the deliveries it lost."""
        return await working.renew(self._session, worker, deliveries, lease_until)

    async def settle(self, settlements: Sequence[Settlement], now: datetime) -> list[bool]:
        """Acknowledge each delivery and, unless stale, end or reschedule its record."""
        return await working.settle(self._session, settlements, now)

    async def release(self, worker: str, deliveries: Sequence[str], now: datetime) -> int:
        """Return unstarted deliveries of ``worker`` to the queue (see ``Engine``)."""
        return await working.release(self._session, worker, deliveries)

    async def count_isolated_run(self, key: str, generation: int) -> None:
        """Count a suspected execution's run starting alone (see ``Engine``)."""
        await working.count_isolated_run(self._session, key, generation)

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
        """Acknowledge ``delivery``, keep it whole as a dead letter, and fail its record."""
        await working.set_aside(
            self._session, delivery, reason, now, ttl, key, generation, retention
        )

    async def report_progress(
        self, key: str, generation: int, update: ProgressUpdate
    ) -> ProgressState | None:
        """Change a running execution's progress and publish it; None if not running."""
        return await working.report_progress(self._session, key, generation, update)

    # --- flow control (gates.py) -----------------------------------------------

    async def admit(
        self, gate: str, holder: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        """Let ``holder`` through unless ``limit`` others went through in the last ``window``."""
        return await gates.admit(self._session, gate, holder, now, window, limit)

    async def withdraw(self, gate: str, holder: str) -> None:
        """Stop counting ``holder`` at ``gate``."""
        await gates.withdraw(self._session, gate, holder)

    async def acquire_slot(
        self, gate: str, holder: str, now: datetime, limit: int, lease_until: datetime
    ) -> bool:
        """Take a slot at ``gate`` for ``holder`` until ``lease_until``, if one is free."""
        return await gates.acquire_slot(self._session, gate, holder, now, limit, lease_until)

    async def release_slot(self, gate: str, holder: str, now: datetime, limit: int) -> None:
        """Free ``holder``'s slot at ``gate`` and wake the first run parked there."""
        await gates.release_slot(self._session, gate, holder, now, limit)

    async def debounce(self, gate: str, holder: str, now: datetime, settle: timedelta) -> Debounced:
        """Run the gate's first holder once calls have been quiet for ``settle``."""
        return await gates.debounce(self._session, gate, holder, now, settle)

    # --- workers and strikes ---------------------------------------------------

    async def heartbeat(
        self, worker: str, tasks: frozenset[str], now: datetime, dead_after: timedelta
    ) -> None:
        """Note ``worker`` alive at ``now``; forget workers silent since ``now - dead_after``."""
        keys = self.keys
        seen = epoch_ms(now)
        info = json.dumps({"last_seen": seen, "tasks": sorted(tasks)}, separators=(",", ":"))
        cutoff = epoch_ms_ceiling(from_epoch_ms(seen) - dead_after)
        await self._session.run(
            "heartbeat",
            [keys.workers, keys.workers_seen, keys.stream],
            [worker, seen, info, cutoff, GROUP],
        )

    async def retire(self, worker: str) -> None:
        """Forget ``worker`` at once."""
        keys = self.keys
        await self._session.run(
            "retire", [keys.workers, keys.workers_seen, keys.stream], [worker, GROUP]
        )

    async def workers(self, now: datetime, dead_after: timedelta) -> list[WorkerInfo]:
        """Workers seen within ``dead_after`` of ``now``, by name."""
        return await queries.workers(self._session, now, dead_after)

    async def update_strikes(self, rule_id: str, rule: bytes | None) -> None:
        """Set (or, with ``rule`` None, remove) one strike rule and notify the watchers."""
        keys = self.keys
        await self._session.run(
            "strikes",
            [keys.strikes],
            [rule_id, "0" if rule is None else "1", rule or b"", keys.strike_channel],
        )

    async def strikes(self) -> dict[str, bytes]:
        """Every strike rule in force, by rule id."""
        return await queries.strikes(self._session)

    def watch_strikes(self) -> AbstractAsyncContextManager[AsyncIterator[None]]:
        """Be told of every change to the strike rules from the moment this is entered."""
        return self._session.subscribe(self.keys.strike_channel, parse_strike_change)

    def watch_cancellations(self) -> AbstractAsyncContextManager[AsyncIterator[Cancellation]]:
        """Be told each time ``cancel`` ends running work, from the moment this is entered."""
        return self._session.subscribe(self.keys.cancellation_channel, parse_cancellation)

    # --- reading (queries.py, listeners.py) ------------------------------------

    async def get_record(self, key: str, now: datetime) -> ExecutionRecord | None:
        """The record under ``key`` unless it has expired by ``now``."""
        return await queries.get_record(self._session, key, now)

    async def counts(self, now: datetime) -> QueueCounts:
        """How many records are SCHEDULED, QUEUED and RUNNING."""
        return await queries.counts(self._session)

    async def snapshot(self, now: datetime, limit: int = 10_000) -> StorageSnapshot:
        """Unfinished records (future and queued by due order, running by start) and workers."""
        return await queries.snapshot(self._session, limit)

    # --- dead letters (dead_letters.py) ----------------------------------------

    async def dead_letters(self, limit: int = 100, now: datetime | None = None) -> list[DeadLetter]:
        """The last ``limit`` dead letters (unexpired at ``now``, if given), oldest first."""
        return await dead_letters.dead_letters(self._session, limit, now)

    async def dead_letter(self, letter_id: str, now: datetime) -> DeadLetter | None:
        """The letter ``letter_id`` unless it is unknown or has expired by ``now``."""
        return await dead_letters.dead_letter(self._session, letter_id, now)

    async def remove_dead_letters(self, letter_ids: Sequence[str]) -> int:
        """Remove each letter named; return how many were there."""
        return await dead_letters.remove(self._session, letter_ids)

    def subscribe(self, key: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Listen to ``key``'s state and progress events from the moment the context is entered."""
        return self._session.subscribe(self.keys.channel(key), parse_event)

    # --- user data (user_data.py) ----------------------------------------------

    def user_key(self, suffix: str) -> str:
        """``{name}:suffix``, refused when it names one of the docket's own keys."""
        return layout.user_key(self.name, suffix)

    def redis(self) -> AbstractAsyncContextManager[Any]:
        """A client on this engine's connections to its server (the master, the slot owner)."""
        return user_client(self._session)
