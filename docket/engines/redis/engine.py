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
``cancel``, ``claim`` and ``clear`` take one round trip each; ``settle`` and
``renew`` one per batch, and ``schedule_many`` pipelines one schedule per
message in one round trip.  Times always come from the caller's ``now``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from docket.engines import layout
from docket.engines.base import (
    DEBOUNCE_MEMORY,
    Cancellation,
    ClaimBatch,
    DeadLetter,
    Debounced,
    Event,
    ExecutionRecord,
    ProgressState,
    ProgressUpdate,
    QueueCounts,
    ScheduleResult,
    Settlement,
    StorageSnapshot,
    TaskMessage,
    WorkerInfo,
)
from docket.engines.redis import queries
from docket.engines.redis.codec import (
    Arg,
    encode_cursor,
    ends,
    gc_after,
    parse_cancellation,
    parse_claim,
    parse_event,
    parse_progress,
    settlement_args,
)
from docket.engines.redis.connections import check_url
from docket.engines.redis.keys import GROUP, DocketKeys
from docket.engines.redis.scheduling import ScheduleCall, schedule_call
from docket.engines.redis.session import Session
from docket.timeutil import duration_ms, epoch_ms, epoch_ms_ceiling, from_epoch_ms
from docket.urls import redact_url

__all__ = ["DEAD_LETTER_LIMIT", "PROMOTE_LIMIT", "RedisEngine"]

DEAD_LETTER_LIMIT = 10_000
"""About how many dead letters are kept (the stream is trimmed approximately)."""

PROMOTE_LIMIT = 1000
"""How many due future records one claim promotes to the queue, at most."""


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


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

    # --- producing -----------------------------------------------------------

    async def schedule(
        self, message: TaskMessage, now: datetime, *, replace: bool
    ) -> ScheduleResult:
        """Store ``message`` under its key unless a live record holds it (see ``Engine``)."""
        call = schedule_call(self.keys, message, now, replace)
        result, woke = call.result(await self._session.run("schedule", call.keys, call.args))
        if woke:
            self._session.signal.notify()
        return result

    async def schedule_many(
        self, messages: Sequence[TaskMessage], now: datetime, *, replace: bool
    ) -> list[ScheduleResult | Exception]:
        """``schedule`` each message, pipelined in one round trip; errors come back in place."""
        results: dict[int, ScheduleResult | Exception] = {}
        calls: list[tuple[int, ScheduleCall]] = []
        for index, message in enumerate(messages):
            try:
                calls.append((index, schedule_call(self.keys, message, now, replace)))
            except (ValueError, TypeError) as error:
                results[index] = error
        if calls:
            replies = await self._session.run_many(
                "schedule", [(call.keys, call.args) for _, call in calls]
            )
            woke = False
            for (index, call), reply in zip(calls, replies, strict=True):
                if isinstance(reply, Exception):
                    results[index] = reply
                    continue
                results[index], woken = call.result(reply)
                woke = woke or woken
            if woke:
                self._session.signal.notify()
        return [results[index] for index in range(len(messages))]

    async def cancel(self, key: str, now: datetime, ttl: timedelta) -> bool:
        """Cancel SCHEDULED, QUEUED or RUNNING work under ``key``; True if this call did."""
        k = self.keys
        reply = await self._session.run(
            "cancel",
            [k.record(key), k.queue, k.future, k.stream, k.holders],
            [key, *ends(now, ttl), k.events_prefix, k.cancellation_channel],
        )
        return bool(reply)

    async def clear(self, now: datetime, ttl: timedelta) -> int:
        """Cancel every SCHEDULED and QUEUED execution; return how many."""
        k = self.keys
        reply = await self._session.run(
            "clear",
            [k.queue, k.future, k.stream],
            [k.runs_prefix, k.events_prefix, *ends(now, ttl)],
        )
        return int(reply)

    # --- working -------------------------------------------------------------

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
        # Read before the round trip: a notification during it changes the
        # version, and the wait that follows returns at once.
        version = self._session.signal.version
        k = self.keys
        reply = await self._session.run(
            "claim",
            [k.stream, k.queue, k.future, k.leases, k.holders, k.wake],
            [
                GROUP,
                worker,
                max(0, count),
                epoch_ms(now),
                epoch_ms(lease_until),
                max(0, promote_limit),
                k.runs_prefix,
                k.events_prefix,
            ],
        )
        return self._claimed(reply, version)

    async def settle_and_claim(
        self,
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
            return [], await self.claim(worker, count, now, lease_until)
        version = self._session.signal.version
        k = self.keys
        keys, settle_args = self._settle_keys_and_args(settlements)
        claim_args: list[Arg] = [
            worker,
            max(0, count),
            epoch_ms(lease_until),
            PROMOTE_LIMIT,
            k.runs_prefix,
        ]
        settled, claimed = await self._session.run(
            "settle_and_claim",
            keys,
            [GROUP, epoch_ms(now), k.events_prefix, *claim_args, *settle_args],
        )
        applied = self._settled(settled)
        return applied, self._claimed(claimed, version)

    def _claimed(self, reply: Any, version: int) -> ClaimBatch:
        claims, wake_id, left, first_future, first_lease, woke = reply
        if woke:
            self._session.signal.notify()
        wakes = [int(score) for score in (first_future, first_lease) if score]
        return ClaimBatch(
            claims=[parse_claim(claim) for claim in claims],
            next_wake=from_epoch_ms(min(wakes)) if wakes else None,
            cursor=encode_cursor(wake_id.decode(), version, bool(left)),
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
        if not deliveries:
            return set()
        k = self.keys
        lost = await self._session.run(
            "renew",
            [k.leases, k.holders, k.stream],
            [worker, epoch_ms(lease_until), k.runs_prefix, *deliveries],
        )
        return {delivery.decode() for delivery in lost}

    async def settle(self, settlements: Sequence[Settlement], now: datetime) -> list[bool]:
        """Acknowledge each delivery and, unless stale, end or reschedule its record."""
        if not settlements:
            return []
        keys, args = self._settle_keys_and_args(settlements)
        reply = await self._session.run(
            "settle", keys, [GROUP, epoch_ms(now), self.keys.events_prefix, *args]
        )
        return self._settled(reply)

    def _settle_keys_and_args(
        self, settlements: Sequence[Settlement]
    ) -> tuple[list[str], list[Arg]]:
        """The keys of a settle (see ``lua/settling.lua``) and each settlement's values."""
        k = self.keys
        keys = [k.stream, k.queue, k.future, k.leases, k.holders, k.generation, k.wake]
        args: list[Arg] = []
        for settlement in settlements:
            keys.append(k.record(settlement.key))
            args.extend(settlement_args(settlement, k))
        return keys, args

    def _settled(self, reply: Any) -> list[bool]:
        if reply[-1]:
            self._session.signal.notify()
        return [bool(applied) for applied in reply[:-1]]

    async def release(self, worker: str, deliveries: Sequence[str], now: datetime) -> int:
        """Return unstarted deliveries of ``worker`` to the queue (see ``Engine``)."""
        if not deliveries:
            return 0
        k = self.keys
        released = await self._session.run(
            "release",
            [k.stream, k.queue, k.leases, k.holders, k.wake],
            [GROUP, worker, k.runs_prefix, k.events_prefix, *deliveries],
        )
        if released:
            # Workers in this process wait on the signal, not on the wake stream.
            self._session.signal.notify()
        return int(released)

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
        """Acknowledge ``delivery``, keep it as a dead letter, and fail its record.

        Without ``key``, the record named by the delivery's stream entry is
        failed when it is still that delivery's execution: a record the worker
        could not read would otherwise keep its key live forever.
        """
        k = self.keys
        keys = [k.stream, k.leases, k.holders, k.dead]
        if key is not None:
            keys.append(k.record(key))
        await self._session.run(
            "set_aside",
            keys,
            [
                GROUP,
                k.runs_prefix,
                k.events_prefix,
                delivery,
                reason,
                *ends(now, ttl),
                "" if key is None else key,
                "" if generation is None else generation,
                DEAD_LETTER_LIMIT,
            ],
        )

    async def report_progress(
        self, key: str, generation: int, update: ProgressUpdate
    ) -> ProgressState | None:
        """Change a running execution's progress and publish it; None if not running."""
        reply = await self._session.run(
            "progress",
            [self.keys.record(key)],
            [
                key,
                generation,
                "" if update.total is None else update.total,
                update.increment,
                "0" if update.message is None else "1",
                "" if update.message is None else update.message,
                self.keys.events_prefix,
            ],
        )
        return None if reply is None else parse_progress(*reply)

    # --- flow control --------------------------------------------------------

    async def admit(
        self, gate: str, holder: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        """Let ``holder`` through unless ``limit`` others went through in the last ``window``."""
        now_ms, window_ms = epoch_ms(now), duration_ms(window)
        reply = await self._session.run(
            "admit",
            [self.keys.gate(gate)],
            [holder, now_ms, now_ms - window_ms, limit, gc_after(window_ms)],
        )
        return None if not reply else from_epoch_ms(int(reply)) + window

    async def withdraw(self, gate: str, holder: str) -> None:
        """Stop counting ``holder`` at ``gate``."""
        await self._session.read(lambda client: client.zrem(self.keys.gate(gate), holder))

    async def acquire_slot(
        self, gate: str, holder: str, now: datetime, limit: int, lease_until: datetime
    ) -> bool:
        """Take a slot at ``gate`` for ``holder`` until ``lease_until``, if one is free."""
        now_ms, until_ms = epoch_ms(now), epoch_ms(lease_until)
        reply = await self._session.run(
            "acquire_slot",
            [self.keys.slots(gate)],
            [holder, now_ms, limit, until_ms, gc_after(max(until_ms - now_ms, 0))],
        )
        return bool(reply)

    async def release_slot(self, gate: str, holder: str, now: datetime, limit: int) -> None:
        """Free ``holder``'s slot at ``gate`` and wake the first run parked there."""
        k = self.keys
        woke = await self._session.run(
            "release_slot",
            [k.slots(gate), k.parked(gate), k.future, k.queue, k.wake],
            [holder, epoch_ms(now), limit, k.runs_prefix, k.events_prefix],
        )
        if woke:
            self._session.signal.notify()

    async def debounce(self, gate: str, holder: str, now: datetime, settle: timedelta) -> Debounced:
        """Run the gate's first holder once calls have been quiet for ``settle``."""
        now_ms, settle_ms = epoch_ms(now), duration_ms(settle)
        reply = await self._session.run(
            "debounce",
            [self.keys.debounce(gate)],
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

    # --- workers and strikes -------------------------------------------------

    async def heartbeat(
        self, worker: str, tasks: frozenset[str], now: datetime, dead_after: timedelta
    ) -> None:
        """Note ``worker`` alive at ``now``; forget workers silent since ``now - dead_after``."""
        k = self.keys
        seen = epoch_ms(now)
        info = _compact({"last_seen": seen, "tasks": sorted(tasks)})
        cutoff = epoch_ms_ceiling(from_epoch_ms(seen) - dead_after)
        await self._session.run(
            "heartbeat", [k.workers, k.workers_seen, k.stream], [worker, seen, info, cutoff, GROUP]
        )

    async def retire(self, worker: str) -> None:
        """Forget ``worker`` at once."""
        k = self.keys
        await self._session.run("retire", [k.workers, k.workers_seen, k.stream], [worker, GROUP])

    async def update_strikes(self, rule_id: str, rule: bytes | None) -> None:
        """Set (or, with ``rule`` None, remove) one strike rule and notify the watchers."""
        k = self.keys
        present = rule is not None
        await self._session.run(
            "strikes",
            [k.strikes],
            [rule_id, "1" if present else "0", rule or b"", k.strike_channel],
        )

    async def strikes(self) -> dict[str, bytes]:
        """Every strike rule in force, by rule id."""
        stored = await self._session.read(lambda client: client.hgetall(self.keys.strikes))
        return {
            rule_id.decode(): rule for rule_id, rule in cast(dict[bytes, bytes], stored).items()
        }

    def watch_strikes(self) -> AbstractAsyncContextManager[AsyncIterator[None]]:
        """Be told of every change to the strike rules from the moment this is entered."""
        return self._session.subscribe(self.keys.strike_channel, _nothing)

    def watch_cancellations(self) -> AbstractAsyncContextManager[AsyncIterator[Cancellation]]:
        """Be told each time ``cancel`` ends running work, from the moment this is entered."""
        return self._session.subscribe(self.keys.cancellation_channel, parse_cancellation)

    # --- reading -------------------------------------------------------------

    async def get_record(self, key: str, now: datetime) -> ExecutionRecord | None:
        """The record under ``key`` unless it has expired by ``now``."""
        return await self._session.read(lambda c: queries.get_record(c, self.keys, key, now))

    async def counts(self, now: datetime) -> QueueCounts:
        """How many records are SCHEDULED, QUEUED and RUNNING."""
        return await self._session.read(lambda c: queries.counts(c, self.keys))

    async def snapshot(self, now: datetime, limit: int = 10_000) -> StorageSnapshot:
        """Unfinished records (future and queued by due order, running by start) and workers."""
        k = self.keys
        reply = await self._session.run(
            "snapshot",
            [k.future, k.queue, k.leases, k.stream, k.workers],
            [k.runs_prefix, max(0, limit)],
        )
        return queries.parse_snapshot(reply)

    async def workers(self, now: datetime, dead_after: timedelta) -> list[WorkerInfo]:
        """Workers seen within ``dead_after`` of ``now``, by name."""
        return await self._session.read(lambda c: queries.workers(c, self.keys, now, dead_after))

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The last ``limit`` dead letters, oldest first."""
        return await self._session.read(lambda c: queries.dead_letters(c, self.keys, limit))

    def subscribe(self, key: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Listen to ``key``'s state and progress events from the moment the context is entered."""
        return self._session.subscribe(self.keys.channel(key), parse_event)

    # --- user data -----------------------------------------------------------

    def user_key(self, suffix: str) -> str:
        """``{name}:suffix``, refused when it names one of the docket's own keys."""
        return layout.user_key(self.name, suffix)

    def redis(self) -> AbstractAsyncContextManager[Any]:
        """A client on this engine's connections to its server (the master, the slot owner)."""
        return self._user_client()

    @asynccontextmanager
    async def _user_client(self) -> AsyncIterator[Any]:
        client = self._session.user_client()
        try:
            yield client
        finally:
            await client.aclose()


def _nothing(data: bytes) -> None:
    return None
