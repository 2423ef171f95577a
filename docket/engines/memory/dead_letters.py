"""The dead letters of a memory docket: keeping them, listing, reading and removing them.

The twin of ``redis/dead_letters.py`` and of the letter half of
``lua/set_aside.lua``.  Letters sit in ``Store.dead`` in the order they were
set aside, each with an id from the store's own counter.  Keeping one first
drops the expired letters at the front, stopping at the first that is not
(as Redis trims its stream); reads hide any expired letter left behind.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from docket.engines.memory.store import Store
from docket.engines.records import DeadLetter
from docket.engines.rules import letter_has_expired
from docket.timeutil import utc_ms

__all__ = ["dead_letter", "dead_letters", "keep", "remove"]


def keep(store: Store, letter: DeadLetter, now: datetime, retention: timedelta) -> None:
    """Add ``letter``, set aside at ``now``, to expire after ``retention``."""
    dead = store.dead
    while dead and letter_has_expired(dead[0], now):
        dead.popleft()
    dead.append(replace(letter, id=str(next(store.dead_seqs)), expires_at=utc_ms(now + retention)))


def dead_letters(store: Store, limit: int, now: datetime | None) -> list[DeadLetter]:
    """The last ``limit`` letters unexpired at ``now`` (all stored, without it), oldest first."""
    if limit <= 0:
        return []
    found: list[DeadLetter] = []
    for letter in reversed(store.dead):
        if now is None or not letter_has_expired(letter, now):
            found.append(letter)
            if len(found) == limit:
                break
    found.reverse()
    return found


def dead_letter(store: Store, letter_id: str, now: datetime) -> DeadLetter | None:
    """The letter ``letter_id`` unless it is unknown or expired by ``now``."""
    for letter in store.dead:
        if letter.id == letter_id:
            return None if letter_has_expired(letter, now) else letter
    return None


def remove(store: Store, letter_ids: Sequence[str]) -> int:
    """Remove each letter named; return how many were there."""
    wanted = set(letter_ids)
    kept = [letter for letter in store.dead if letter.id not in wanted]
    removed = len(store.dead) - len(kept)
    if removed:
        store.dead = deque(kept, maxlen=store.dead.maxlen)
    return removed
