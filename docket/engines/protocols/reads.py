"""The read operations of the engine seam: records, counts and snapshots.

None of these change storage.  Those that take ``now`` hide what has expired
by then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from docket.engines.records import ExecutionRecord, QueueCounts, StorageSnapshot

__all__ = ["ReadOperations"]


class ReadOperations(Protocol):
    """Reading what storage holds."""

    async def get_record(self, key: str, now: datetime) -> ExecutionRecord | None:
        """The unexpired record under ``key``, or None."""
        ...

    async def counts(self, now: datetime) -> QueueCounts:
        """How many records are future, queued and running."""
        ...

    async def snapshot(self, now: datetime, limit: int = 10_000) -> StorageSnapshot:
        """Read up to ``limit`` unfinished records of each kind, and the live workers."""
        ...
