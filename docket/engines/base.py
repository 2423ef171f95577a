"""The engine seam: one protocol naming every storage operation.

Docket and Worker talk to storage only through ``Engine``.  Two engines
implement it: the in-memory twin (``memory/``) and Redis (``redis/``).  The
values it takes and returns are in ``records.py`` and re-exported here.  Each
operation is atomic, and each one whose meaning depends on time takes ``now``
from the caller's clock, so a ``VirtualClock`` drives both engines alike.  The
engine never reads a clock of its own for a decision; Redis expiries are only
garbage collection.

Invariants every engine keeps (pinned by ``conformance/``):

* One record per task key.  The record's ``generation`` is drawn from a
  per-docket counter that only grows, so it also orders work by when it was
  (re)scheduled.  Every (re)schedule of a key takes a new generation, and a
  delivery carries the generation it was made for: a settlement or claim for
  an older generation is stale and never touches the record.
* A key is live while its record is SCHEDULED, QUEUED or RUNNING and not
  expired.  A record expires at ``expires_at`` (set when it ends), compared
  against the caller's ``now``; an expired record reads as absent.
* Due work (``when <= now``) is handed out in ``(when, generation)`` order.
* A claim takes a lease until ``lease_until``; a lease that has expired by
  ``now`` may be reclaimed by any worker.  Nothing claimed is lost until it is
  settled.
* ``cancel`` may end a RUNNING record.  Its delivery stays leased to its
  worker, but the record has moved on: the settlement only acknowledges, a
  reclaim hands nothing out, and ``renew`` reports the delivery lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from docket.engines.records import (
    DEBOUNCE_MEMORY,
    Cancellation,
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

__all__ = [
    "Cancellation",
    "Claim",
    "ClaimBatch",
    "DEBOUNCE_MEMORY",
    "DeadLetter",
    "Debounced",
    "Engine",
    "ENGINE_OPERATIONS",
    "Event",
    "ExecutionRecord",
    "ProgressChange",
    "ProgressState",
    "ProgressUpdate",
    "QueueCounts",
    "ScheduleResult",
    "Settlement",
    "SlotWait",
    "StateChange",
    "StorageSnapshot",
    "TaskMessage",
    "WorkerInfo",
]


@runtime_checkable
class Engine(Protocol):
    """Every storage operation docket performs.  Each call is atomic."""

    name: str
    """The docket name whose data this engine instance reads and writes."""

    url: str
    """The URL this engine was opened from."""

    async def open(self) -> None:
        """Connect and create whatever the docket's storage needs."""
        ...

    async def close(self) -> None:
        """Release connections and wake nobody; stored data stays."""
        ...

    async def schedule(
        self, message: TaskMessage, now: datetime, *, replace: bool
    ) -> ScheduleResult:
        """Store ``message`` under its key.

        Due work (``when <= now``) becomes QUEUED, future work SCHEDULED.
        Without ``replace``, a live key makes this a no-op returning
        ALREADY_SCHEDULED and the live record.  With ``replace``, any
        scheduled or queued work under the key is withdrawn and the new work
        takes its place under a new generation; a RUNNING execution keeps
        running, but its settlement becomes stale.

        A malformed ``message`` (see ``TaskMessage``; ``when`` must be aware)
        raises ValueError naming the field.
        """
        ...

    async def schedule_many(
        self, messages: Sequence[TaskMessage], now: datetime, *, replace: bool
    ) -> list[ScheduleResult | Exception]:
        """``schedule`` each message in order, in one round trip where the engine has them.

        Each schedule is atomic on its own; the batch is not.  One result per
        message, in order: its ScheduleResult, or the exception its schedule
        raised (a malformed message, an error from storage), while the
        others still apply.  A failure of the whole batch (a lost
        connection) raises instead.
        """
        ...

    async def cancel(self, key: str, now: datetime, ttl: timedelta) -> bool:
        """Cancel the key's live work: SCHEDULED, QUEUED or RUNNING.

        The record becomes CANCELLED at ``now``, expiring at ``now + ttl``,
        and the CANCELLED state event is published.  Returns True if this
        call cancelled something; a missing or already ended record is left
        as it is and returns False.

        Running work is cancelled in storage only: its delivery stays leased
        to the worker running it, and every ``watch_cancellations`` listener
        is told (a ``Cancellation``) so that worker can stop the run.  That
        delivery's settlement then only acknowledges it (reported not
        applied, rescheduling nothing), a reclaim of it once its lease
        expires hands nothing out, and ``renew`` reports it lost.
        """
        ...

    async def claim(
        self,
        worker: str,
        count: int,
        now: datetime,
        lease_until: datetime,
        *,
        promote_limit: int = 1000,
    ) -> ClaimBatch:
        """Hand up to ``count`` due deliveries to ``worker``.

        First promotes at most ``promote_limit`` due future records to
        QUEUED, then reclaims deliveries whose lease expired by ``now``
        (``redelivered=True``), then claims queued work in due order.  Each
        claimed record becomes RUNNING with ``worker`` and ``started_at=now``
        (a redelivery keeps its original ``started_at``), leased until
        ``lease_until``.  Queued messages whose record is stale, cancelled or
        gone are acknowledged and skipped.
        """
        ...

    async def wait_for_work(self, cursor: str | None) -> None:
        """Return when new work may have arrived since ``cursor``.

        New work is anything queued, and also anything newly scheduled for the
        future, since that may be due before the ``next_wake`` the caller
        last saw.

        May return early or spuriously; may also wait indefinitely, so callers
        race it with their clock and cancel it freely.  Cancelling the caller
        never corrupts the engine's connections.
        """
        ...

    async def renew(
        self, worker: str, deliveries: Sequence[str], lease_until: datetime
    ) -> set[str]:
        """Extend ``worker``'s leases on ``deliveries``; return those it no longer holds.

        A delivery is no longer held when it was settled, released, set
        aside or reclaimed by another worker, or when its execution was
        cancelled while it ran (the lease is then not extended; see
        ``cancel``).  A delivery whose key was since replaced is still held.
        """
        ...

    async def settle(self, settlements: Sequence[Settlement], now: datetime) -> list[bool]:
        """Apply each settlement atomically; True where it changed the record."""
        ...

    async def settle_and_claim(
        self,
        settlements: Sequence[Settlement],
        worker: str,
        count: int,
        now: datetime,
        lease_until: datetime,
    ) -> tuple[list[bool], ClaimBatch]:
        """``settle(settlements, now)``, then ``claim(worker, count, now, lease_until)``.

        The two happen in this order, each atomic, in one round trip where
        the engine has round trips; a failure of either raises.
        """
        ...

    async def release(self, worker: str, deliveries: Sequence[str], now: datetime) -> int:
        """Hand back deliveries ``worker`` claimed but never started; return how many.

        Each one still leased to ``worker`` whose record is RUNNING at that
        delivery's generation goes back to QUEUED (``worker`` and
        ``started_at`` cleared) with its generation, ``when`` and attempt
        unchanged, so it keeps its place in due order, and waiting workers
        are woken.  The delivery is acknowledged and forgotten.  Deliveries
        ``worker`` no longer holds are ignored; one whose record moved on is
        only forgotten.  Neither is counted.
        """
        ...

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
        """Acknowledge a delivery that cannot run and keep it as a dead letter.

        When ``key`` and ``generation`` name the current record, or, if they
        are not given, the delivery itself names it, it ends FAILED with
        ``reason`` as its error.
        """
        ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent messages set aside, oldest first."""
        ...

    async def get_record(self, key: str, now: datetime) -> ExecutionRecord | None:
        """The unexpired record under ``key``, or None."""
        ...

    async def counts(self, now: datetime) -> QueueCounts:
        """How many records are future, queued and running."""
        ...

    async def snapshot(self, now: datetime, limit: int = 10_000) -> StorageSnapshot:
        """Read up to ``limit`` unfinished records of each kind, and the live workers."""
        ...

    async def clear(self, now: datetime, ttl: timedelta) -> int:
        """Cancel every SCHEDULED and QUEUED execution; return how many."""
        ...

    async def heartbeat(
        self, worker: str, tasks: frozenset[str], now: datetime, dead_after: timedelta
    ) -> None:
        """Record that ``worker`` is alive and serves ``tasks``; forget workers
        last seen before ``now - dead_after``."""
        ...

    async def retire(self, worker: str) -> None:
        """Forget ``worker`` at once (it is shutting down)."""
        ...

    async def workers(self, now: datetime, dead_after: timedelta) -> list[WorkerInfo]:
        """Workers seen within ``dead_after`` of ``now``, by name."""
        ...

    async def report_progress(
        self, key: str, generation: int, update: ProgressUpdate
    ) -> ProgressState | None:
        """Apply ``update`` to the progress of the RUNNING execution ``key`` at
        ``generation`` and publish a ProgressChange; None (and no change) if the
        key is not running at that generation."""
        ...

    async def update_strikes(self, rule_id: str, rule: bytes | None) -> None:
        """Store the encoded strike ``rule`` under ``rule_id``, or remove it when
        ``rule`` is None, and tell every ``watch_strikes`` listener."""
        ...

    async def strikes(self) -> dict[str, bytes]:
        """Every strike rule in force, encoded, by rule id."""
        ...

    def watch_strikes(self) -> AbstractAsyncContextManager[AsyncIterator[None]]:
        """Yield once each time the strike rules change.

        Active once the context is entered, so a caller that enters it and
        then reads ``strikes()`` cannot miss a change.
        """
        ...

    def watch_cancellations(self) -> AbstractAsyncContextManager[AsyncIterator[Cancellation]]:
        """Yield a ``Cancellation`` each time ``cancel`` ends running work of this docket.

        Every listener of the docket hears every notice (a worker keeps
        those naming it).  Active once the context is entered: a cancel made
        after entering returns is heard.  Notices are not stored; one missed
        (a lost connection) is caught by ``renew``, which reports the
        cancelled delivery lost.
        """
        ...

    async def admit(
        self, gate: str, holder: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        """Let ``holder`` through ``gate`` unless ``limit`` holders went through in the last ``window``.

        A holder let through at ``t`` counts while ``now < t + window``.  A
        holder still counted is let through again without counting twice (a
        redelivered run).  Returns None when ``holder`` is let through (and
        counted from ``now``), else the moment the earliest counted holder
        stops counting.
        """
        ...

    async def withdraw(self, gate: str, holder: str) -> None:
        """Stop counting ``holder`` at ``gate`` (it was let through but did not run)."""
        ...

    async def acquire_slot(
        self, gate: str, holder: str, now: datetime, limit: int, lease_until: datetime
    ) -> bool:
        """Take one of ``limit`` slots at concurrency ``gate`` for ``holder`` until ``lease_until``.

        A slot whose lease has expired by ``now`` is free again (its holder
        died).  A holder that already has a slot keeps it, with the new lease
        (a renewal, or a redelivered run).  False when every slot is taken.
        """
        ...

    async def release_slot(self, gate: str, holder: str, now: datetime, limit: int) -> None:
        """Give ``holder``'s slot at ``gate`` back, and wake the first run parked there.

        The woken run (see ``Settlement.wait_for``) becomes due at ``now``;
        parked runs that were since cancelled or rescheduled are skipped.
        Nothing is woken unless a slot is free.
        """
        ...

    async def debounce(self, gate: str, holder: str, now: datetime, settle: timedelta) -> Debounced:
        """Decide whether ``holder``'s run goes ahead through the debounce ``gate``.

        The first holder to arrive holds the gate and waits until ``settle``
        has passed since the gate last saw a call; any other holder arriving
        meanwhile is dropped and counts as a call.  A holder whose gate has
        been quiet for ``settle`` runs, and the gate opens for a new first
        call.  A gate quiet for ten times ``settle`` is forgotten, so a holder
        that never came back cannot close it for good.
        """
        ...

    def subscribe(self, key: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Listen to the key's state and progress events.

        The subscription is active once the context is entered, so a caller
        that enters it and then reads the record cannot miss a change.
        """
        ...

    def user_key(self, suffix: str) -> str:
        """The full name of the user's key ``suffix``: ``{name}:suffix``.

        It shares the docket's hash tag, so it sits beside the docket's own
        keys (on one cluster slot).  ValueError when ``suffix`` is not a
        non-empty string or names one of the engine's own keys.
        """
        ...

    def redis(self) -> AbstractAsyncContextManager[Any]:
        """A redis-py asyncio client (bytes replies) for the user's own data.

        The Redis engine's client talks to the docket's server on the
        engine's own connections; the memory engine's to an in-process
        fakeredis server shared, like its store, by every engine of the same
        URL and docket name.  Name keys with ``user_key`` and leave the
        docket's own keys alone.  The engine must be open.
        """
        ...


ENGINE_OPERATIONS: tuple[str, ...] = tuple(
    name
    for name in vars(Engine)
    if not name.startswith("_") and callable(getattr(Engine, name, None))
)
"""The names of every operation an engine must implement."""
