"""The engine seam: ``Engine``, the one protocol naming every storage operation.

Docket and Worker talk to storage only through ``Engine``.  Two engines
implement it: the in-memory twin (``memory/``) and Redis (``redis/``).  Its
operations are grouped by what they serve in ``protocols/`` (queue, gates,
workers, events, strikes, reads, dead letters, user data); ``Engine`` adds opening and
closing and combines them.  The values it takes and returns are in
``records.py``.  This module re-exports all of them, so code above the seam
imports what it needs from one place.  Each
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

from typing import Protocol, runtime_checkable

from docket.engines.protocols import (
    DEAD_LETTER_LIMIT,
    DEAD_LETTER_RETENTION,
    DEBOUNCE_MEMORY,
    OPERATION_GROUPS,
    PROMOTE_LIMIT,
    DeadLetterOperations,
    EventOperations,
    GateOperations,
    QueueOperations,
    ReadOperations,
    StrikeOperations,
    UserDataOperations,
    WorkerOperations,
)
from docket.engines.records import (
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
    Settlement,
    SlotWait,
    StateChange,
    StorageSnapshot,
    TaskMessage,
    WorkerInfo,
)
from docket.engines.schedule_result import ScheduleResult

__all__ = [
    "Cancellation",
    "Claim",
    "ClaimBatch",
    "DEAD_LETTER_LIMIT",
    "DEAD_LETTER_RETENTION",
    "DEBOUNCE_MEMORY",
    "DeadLetter",
    "DeadLetterOperations",
    "Debounced",
    "Engine",
    "ENGINE_OPERATIONS",
    "Event",
    "EventOperations",
    "ExecutionRecord",
    "GateOperations",
    "PROMOTE_LIMIT",
    "ProgressChange",
    "ProgressState",
    "ProgressUpdate",
    "QueueCounts",
    "QueueOperations",
    "ReadOperations",
    "ScheduleResult",
    "Settlement",
    "SlotWait",
    "StateChange",
    "StorageSnapshot",
    "StrikeOperations",
    "TaskMessage",
    "UserDataOperations",
    "WorkerInfo",
    "WorkerOperations",
]


@runtime_checkable
class Engine(
    QueueOperations,
    GateOperations,
    WorkerOperations,
    EventOperations,
    StrikeOperations,
    ReadOperations,
    DeadLetterOperations,
    UserDataOperations,
    Protocol,
):
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


def _operations(protocol: type) -> list[str]:
    """The operations ``protocol`` itself declares, in the order it declares them."""
    return [
        name
        for name, member in vars(protocol).items()
        if not name.startswith("_") and callable(member)
    ]


ENGINE_OPERATIONS: tuple[str, ...] = tuple(
    name for protocol in (Engine, *OPERATION_GROUPS) for name in _operations(protocol)
)
"""The names of every operation an engine must implement."""
