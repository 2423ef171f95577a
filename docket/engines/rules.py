"""The rules both engines apply alike when they order records and read them back.

The protocol pins them (see ``base.py``): due work goes in ``(when,
generation)`` order, running work in the order it started, workers by name,
and a record (or a dead letter) has expired once ``now`` reaches its
``expires_at``.  Each is
written once here so the twins cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime

from docket.engines.records import DeadLetter, ExecutionRecord, WorkerInfo
from docket.timeutil import utc_ms

__all__ = ["due_order", "has_expired", "letter_has_expired", "start_order", "worker_order"]


def due_order(record: ExecutionRecord) -> tuple[datetime, int]:
    """Sort key of SCHEDULED and QUEUED work: by ``when``, ties in the order scheduled."""
    return record.when, record.generation


def start_order(record: ExecutionRecord) -> tuple[datetime, int]:
    """Sort key of RUNNING work: by when it started (else was due), then by generation."""
    return record.started_at or record.when, record.generation


def worker_order(worker: WorkerInfo) -> str:
    """Sort key of workers: by name."""
    return worker.name


def has_expired(record: ExecutionRecord, now: datetime) -> bool:
    """Whether ``record`` has expired by ``now``, compared at whole milliseconds."""
    return record.expires_at is not None and record.expires_at <= utc_ms(now)


def letter_has_expired(letter: DeadLetter, now: datetime) -> bool:
    """Whether dead letter ``letter`` has expired by ``now``, compared at whole milliseconds."""
    return letter.expires_at is not None and letter.expires_at <= utc_ms(now)
