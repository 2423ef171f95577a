"""The queue operations of the engine seam: scheduling work, claiming it, settling it.

These move a key's execution record through its states (see ``base.py`` for
the invariants every engine keeps): ``schedule`` makes it SCHEDULED or
QUEUED, ``claim`` RUNNING under a lease, ``settle`` ends or reschedules it,
and ``cancel`` (and ``cancel_many``), ``clear``, ``release`` and ``set_aside``
end or hand back work on the way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from docket.engines.records import ClaimBatch, Settlement, TaskMessage
from docket.engines.schedule_result import ScheduleResult

__all__ = ["DEAD_LETTER_LIMIT", "DEAD_LETTER_RETENTION", "PROMOTE_LIMIT", "QueueOperations"]

PROMOTE_LIMIT = 1000
"""How many due future records one ``claim`` promotes to the queue, unless told otherwise."""

DEAD_LETTER_LIMIT = 10_000
"""About how many dead letters an engine keeps; the oldest go first."""

DEAD_LETTER_RETENTION = timedelta(days=7)
"""How long a dead letter is kept after it is set aside, unless told otherwise."""


class QueueOperations(Protocol):
    """Scheduling, cancelling, claiming, renewing, settling and handing back work."""

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

    async def cancel_many(self, keys: Sequence[str], now: datetime, ttl: timedelta) -> list[bool]:
        """``cancel`` each key in order, in one round trip where the engine has them.

        One result per key, in order, as ``cancel`` would return it alone:
        each key is cancelled atomically on its own (the batch is not
        atomic), so a key given twice is cancelled by its first occurrence
        and found ended by its second.  An empty ``keys`` costs nothing.  A
        failure of the whole batch (a lost connection) raises, and then
        any of the keys may or may not have been cancelled.
        """
        ...

    async def clear(self, now: datetime, ttl: timedelta) -> int:
        """Cancel every SCHEDULED and QUEUED execution; return how many."""
        ...

    async def claim(
        self,
        worker: str,
        count: int,
        now: datetime,
        lease_until: datetime,
        *,
        promote_limit: int = PROMOTE_LIMIT,
    ) -> ClaimBatch:
        """Hand up to ``count`` due deliveries to ``worker``.

        First promotes at most ``promote_limit`` due future records to
        QUEUED, then reclaims deliveries whose lease expired by ``now``
        (``redelivered=True``), then claims queued work in due order.  Each
        claimed record becomes RUNNING with ``worker`` and ``started_at=now``
        (a redelivery keeps its original ``started_at``), leased until
        ``lease_until``.  A reclaimed record is marked ``suspected`` for the
        rest of its execution.  Each claim's ``suspect`` and ``deliveries``
        follow from the record (see ``Claim``).  Queued messages whose record
        is stale, cancelled or gone are acknowledged and skipped.
        """
        ...

    async def count_isolated_run(self, key: str, generation: int) -> None:
        """Count a run of a suspected execution that starts alone now.

        Counted only while the record at ``key`` is RUNNING at
        ``generation``; the count is the record's ``isolated_runs`` and feeds
        the ``deliveries`` of its next claim.  A run counted and then finished
        ends the execution, and the count with it.
        """
        ...

    def wait_for_work(self, cursor: str | None) -> Awaitable[None]:
        """An awaitable that ends when new work may have arrived since ``cursor``.

        A coroutine, or any other awaitable (the memory twin's is an awaitable
        ``docket.racing.Signal`` shared by every wait until work arrives, which
        costs no task to race): wrap it with ``asyncio.ensure_future``, never
        ``create_task``.

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
        retention: timedelta = DEAD_LETTER_RETENTION,
    ) -> None:
        """Acknowledge a delivery that cannot run and keep it as a dead letter.

        When ``key`` and ``generation`` name the current record, or, if they
        are not given, the delivery itself names it, it ends FAILED with
        ``reason`` as its error.  The letter keeps that record's whole
        message (task, payload, due time, attempt, headers), the worker that
        held the delivery and ``now``, and expires at ``now + retention``.
        Letters expired by ``now`` are dropped, oldest first, and about
        ``DEAD_LETTER_LIMIT`` letters are kept at most.
        """
        ...
