"""The values that cross the engine seam: messages, records, claims, settlements, events.

Plain frozen dataclasses with no behaviour beyond a derived property (what a
schedule reports is in ``schedule_result.py``, since it builds its record on demand); the
operations that take and return them are the ``Engine`` protocol (``base.py``,
grouped in ``protocols/``), and ``base.py`` re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from docket.states import ExecutionState
from docket.timeutil import EPOCH

__all__ = [
    "Cancellation",
    "Claim",
    "ClaimBatch",
    "DeadLetter",
    "Debounced",
    "Event",
    "ExecutionRecord",
    "ProgressChange",
    "ProgressState",
    "ProgressUpdate",
    "QueueCounts",
    "Settlement",
    "SlotWait",
    "StateChange",
    "StorageSnapshot",
    "TaskMessage",
    "WorkerInfo",
]


@dataclass(frozen=True)
class TaskMessage:
    """A unit of work as the producer hands it to the engine.

    ``payload`` is the serialized ``(args, kwargs)``; it is opaque to the
    engine and returned byte for byte.  ``when`` is an aware UTC datetime at
    millisecond resolution.  ``headers`` carries small string metadata (such as
    a trace context) that the engine stores and returns verbatim.
    """

    key: str
    function_name: str
    payload: bytes
    when: datetime
    attempt: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)


MESSAGE_DEFAULTS: dict[str, object] = dict(vars(TaskMessage("", "", b"", EPOCH)))
"""Every field of a ``TaskMessage`` as its constructor defaults them (the four
without a default are placeholders), for ``docket.frozen.build_frozen``, which
must be given ``headers``: its default is a fresh dict per message."""


@dataclass(frozen=True)
class ProgressState:
    """How far a running execution says it has got.

    ``total`` is None until the task sets one.  Every (re)schedule starts
    again from ``ProgressState()``.
    """

    current: int = 0
    total: int | None = None
    message: str | None = None


@dataclass(frozen=True)
class ProgressUpdate:
    """One change to a run's progress: any of a new total, an increment, a message."""

    total: int | None = None
    increment: int = 0
    message: str | None = None


@dataclass(frozen=True)
class ExecutionRecord:
    """What storage knows about the execution under one key."""

    key: str
    function_name: str
    payload: bytes
    when: datetime
    attempt: int
    headers: Mapping[str, str]
    generation: int
    state: ExecutionState
    worker: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    result: bytes | None = None
    expires_at: datetime | None = None
    progress: ProgressState = field(default_factory=ProgressState)
    suspected: bool = False
    """A delivery of this execution outlived its lease: its worker may have died
    running it, so its runs from now on run alone (see ``Claim.suspect``)."""
    isolated_runs: int = 0
    """Runs of this execution started alone (``Engine.count_isolated_run``)."""


RECORD_DEFAULTS: dict[str, object] = dict(
    vars(ExecutionRecord("", "", b"", EPOCH, 1, {}, 0, ExecutionState.SCHEDULED))
)
"""Every field of an ``ExecutionRecord`` as its constructor defaults them (the
eight without a default are placeholders), for ``docket.frozen.build_frozen``:
the one made by a factory, an empty ``ProgressState``, is frozen and shared."""


@dataclass(frozen=True)
class Claim:
    """One delivery handed to a worker.

    ``delivery`` identifies this delivery for ``renew`` and ``settle``.
    ``record`` is the execution, already marked RUNNING for the claiming
    worker; it is None when the stored message was malformed, in which case
    ``raw`` holds what was stored and ``problem`` says what is wrong, and the
    worker must ``set_aside`` it.  ``redelivered`` is True when the delivery
    was reclaimed from an expired lease.

    ``suspect`` is True when this execution's worker may have died running it:
    this delivery was reclaimed, or an earlier one was (suspicion outlives a
    hand-back).  A suspect runs alone on its worker, so that if it kills the
    worker again nothing else is blamed with it.  ``deliveries`` counts the
    runs of this execution that may have started and not finished, this one
    included: 1 for an unsuspected delivery; for a suspect, the first
    (shared) run, every run started alone since, and this one.  Deliveries
    held but never started are not counted, so work that merely waited on a
    dying worker is never set aside for it.
    """

    delivery: str
    record: ExecutionRecord | None
    raw: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None
    redelivered: bool = False
    deliveries: int = 1
    suspect: bool = False


@dataclass(frozen=True)
class ClaimBatch:
    """What one ``claim`` call handed out, and when to look again.

    ``next_wake`` is the earliest future due time or lease expiry the engine
    knows of (None when there is none); ``cursor`` is an opaque position to
    pass to ``wait_for_work``.
    """

    claims: list[Claim]
    next_wake: datetime | None
    cursor: str | None = None


@dataclass(frozen=True)
class SlotWait:
    """A rescheduled run that waits for a free slot at a concurrency ``gate``.

    ``limit`` is the gate's number of slots.  See ``Settlement.wait_for``.
    """

    gate: str
    limit: int


@dataclass(frozen=True)
class Settlement:
    """How one claimed delivery ended.

    Without ``reschedule`` the record moves to the terminal ``state``
    (COMPLETED, FAILED or CANCELLED) with ``result``/``error`` and expires at
    ``completed_at + ttl`` (a zero ttl removes the record at once).  With
    ``reschedule`` the same key is scheduled again, under a new generation, for
    ``reschedule.when`` with ``reschedule.attempt``, as a retry or perpetual
    run does; ``state``, ``result`` and ``error`` are then ignored.

    ``started_at``, when given, is when the run really started (a worker may
    hold a claimed delivery for a while before starting it); an ending
    record keeps it in place of the claim time.

    ``wait_for`` (only with ``reschedule``) parks the run at a concurrency
    gate: if the gate has a free slot by ``now`` the work is due at once;
    otherwise it waits, scheduled for ``reschedule.when`` as a fallback, until
    ``release_slot`` frees a slot at that gate and wakes it, first parked first.

    Either way the delivery is acknowledged and its lease dropped, atomically
    with the record change.  A settlement whose ``generation`` is no longer the
    record's (or whose record is no longer RUNNING) only acknowledges.
    """

    delivery: str
    key: str
    generation: int
    state: ExecutionState
    completed_at: datetime
    ttl: timedelta
    result: bytes | None = None
    error: str | None = None
    reschedule: TaskMessage | None = None
    started_at: datetime | None = None
    wait_for: SlotWait | None = None


@dataclass(frozen=True)
class StateChange:
    """A published change of an execution's state."""

    key: str
    state: ExecutionState
    generation: int
    worker: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ProgressChange:
    """A published change of a running execution's progress."""

    key: str
    generation: int
    progress: ProgressState


Event = StateChange | ProgressChange
"""What ``Engine.subscribe`` yields."""


@dataclass(frozen=True)
class Cancellation:
    """Notice that ``Engine.cancel`` ended the work under ``key`` while it ran.

    ``delivery`` is the delivery running that work (``generation``), and
    ``worker`` the worker holding its lease (None if none did).  That worker
    should stop the run and settle the delivery, which then only acknowledges.
    """

    key: str
    generation: int
    delivery: str
    worker: str | None


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as its heartbeats describe it."""

    name: str
    last_seen: datetime
    tasks: frozenset[str]


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be run, kept whole for a person to inspect or replay.

    ``id`` names the letter within its docket (opaque text).  ``key``,
    ``function_name``, ``payload`` (the encoded ``(args, kwargs)``, byte for
    byte as the producer stored it), ``when``, ``attempt`` and ``headers``
    are the execution's as it was when set aside; each is None (``headers``
    empty) when the message was malformed and named no readable execution.
    ``reason`` says why it was set aside, ``worker`` held its ``delivery``
    then, and ``set_aside_at`` is on the docket's clock.  The letter is kept
    until ``expires_at`` (``set_aside_at`` plus the docket's
    ``dead_letter_retention``), however long its execution record lives.
    ``fields`` is what storage knew of the delivery, as text.
    """

    key: str | None
    function_name: str | None
    reason: str
    set_aside_at: datetime
    fields: Mapping[str, str]
    id: str = ""
    payload: bytes | None = None
    when: datetime | None = None
    attempt: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    worker: str | None = None
    delivery: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Debounced:
    """What a debounce gate decided for one run.

    ``run``: the run goes ahead (the gate is open again for a new first call).
    ``wait``: the run is the gate's first call and must try again at ``until``.
    ``drop``: another call holds the gate; this one is dropped, and the gate's
    quiet period starts again.
    """

    verdict: Literal["run", "wait", "drop"]
    until: datetime | None = None


@dataclass(frozen=True)
class QueueCounts:
    """How much unfinished work storage holds."""

    future: int
    queued: int
    running: int

    @property
    def total(self) -> int:
        return self.future + self.queued + self.running


@dataclass(frozen=True)
class StorageSnapshot:
    """Everything unfinished, read at one moment.

    ``future`` holds SCHEDULED records in due order, ``queued`` the QUEUED
    ones not yet claimed, ``running`` the claimed ones.
    """

    future: list[ExecutionRecord]
    queued: list[ExecutionRecord]
    running: list[ExecutionRecord]
    workers: list[WorkerInfo]
