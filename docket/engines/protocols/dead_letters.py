"""The dead-letter operations of the engine seam: listing, reading and removing letters.

``QueueOperations.set_aside`` writes a letter; these read and remove them.
A letter whose ``expires_at`` has passed by the caller's ``now`` reads as
absent, on every engine, until a later set-aside drops it for good.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from docket.engines.records import DeadLetter

__all__ = ["DeadLetterOperations"]


class DeadLetterOperations(Protocol):
    """Reading and removing what workers set aside."""

    async def dead_letters(self, limit: int = 100, now: datetime | None = None) -> list[DeadLetter]:
        """The last ``limit`` letters set aside, oldest first.

        With ``now``, letters expired by then are skipped (and do not count
        towards ``limit``); without it every letter still stored is listed.
        """
        ...

    async def dead_letter(self, letter_id: str, now: datetime) -> DeadLetter | None:
        """The letter ``letter_id`` unless it is unknown or has expired by ``now``."""
        ...

    async def remove_dead_letters(self, letter_ids: Sequence[str]) -> int:
        """Remove each letter named; return how many were there (unknown ids are skipped)."""
        ...
