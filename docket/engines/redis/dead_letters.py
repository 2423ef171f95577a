"""The dead letters of a Redis docket: reading them back, listing and removing them.

The twin of ``memory/dead_letters.py``.  ``lua/set_aside.lua`` writes each
letter as an entry of the ``dead`` stream, whose entry id is the letter's id:
the message copied whole from the record (``function``, ``payload``,
``when``, ``attempt``, ``headers``), ``reason``, ``set_aside_at``,
``expires_at``, ``key``, ``delivery``, ``worker``, and the delivery's stream
entry as ``field:<name>``.  It also drops the expired letters at the front
of the stream; reads here hide any expired letter left behind.  Each read is
bounded: a listing pages back from the newest entry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, cast

from docket.engines.records import DeadLetter
from docket.engines.redis.codec import Fields, decode_fields, parse_headers
from docket.engines.redis.session import Session
from docket.engines.rules import letter_has_expired
from docket.timeutil import from_epoch_ms

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["dead_letter", "dead_letters", "parse_letter", "remove"]

_FIELD = b"field:"
_ID = re.compile(r"\A\d{1,20}-\d{1,20}\Z")
"""A stream entry id; anything else names no letter (and Redis would refuse it)."""
PAGE = 100
"""The least number of entries one listing reads per round trip."""

Entry = tuple[bytes, Fields]


def _text(value: bytes | None) -> str | None:
    return None if not value else value.decode("utf-8", "backslashreplace")


def _number(value: bytes | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def parse_letter(letter_id: bytes, stored: Fields) -> DeadLetter:
    """The letter stored as one ``dead`` stream entry.

    Any part of the message that is missing or unreadable reads as None: a
    letter is what is left of a message that could not run.
    """
    fields = {
        name[len(_FIELD) :]: value for name, value in stored.items() if name.startswith(_FIELD)
    }
    fields[b"delivery"] = stored.get(b"delivery", b"")
    if b"worker" in stored:
        fields[b"worker"] = stored[b"worker"]
    when, expires_at = _number(stored.get(b"when")), _number(stored.get(b"expires_at"))
    try:
        headers = parse_headers(stored.get(b"headers", b"{}"))
    except ValueError:
        headers = {}
    return DeadLetter(
        key=_text(stored.get(b"key")),
        function_name=_text(stored.get(b"function")),
        reason=_text(stored.get(b"reason")) or "",
        set_aside_at=from_epoch_ms(_number(stored.get(b"set_aside_at")) or 0),
        fields=decode_fields(fields),
        id=letter_id.decode(),
        payload=stored.get(b"payload"),
        when=None if when is None else from_epoch_ms(when),
        attempt=_number(stored.get(b"attempt")),
        headers=headers,
        worker=_text(stored.get(b"worker")),
        delivery=_text(stored.get(b"delivery")),
        expires_at=None if expires_at is None else from_epoch_ms(expires_at),
    )


async def dead_letters(session: Session, limit: int, now: datetime | None) -> list[DeadLetter]:
    """The last ``limit`` letters unexpired at ``now`` (all stored, without it), oldest first."""
    if limit <= 0:
        return []
    dead_key = session.keys.dead
    found: list[DeadLetter] = []
    newest = "+"
    while len(found) < limit:
        count = max(PAGE, limit - len(found))

        async def page(client: Redis, newest: str = newest, count: int = count) -> list[Entry]:
            return cast("list[Entry]", await client.xrevrange(dead_key, newest, "-", count))

        entries = await session.read(page)
        for letter_id, stored in entries:
            letter = parse_letter(letter_id, stored)
            if now is None or not letter_has_expired(letter, now):
                found.append(letter)
                if len(found) == limit:
                    break
        if len(entries) < count:
            break
        newest = "(" + entries[-1][0].decode()
    found.reverse()
    return found


async def dead_letter(session: Session, letter_id: str, now: datetime) -> DeadLetter | None:
    """The letter ``letter_id`` unless it is unknown or has expired by ``now``."""
    if not _ID.match(letter_id):
        return None
    dead_key = session.keys.dead

    async def read(client: Redis) -> list[Entry]:
        return cast("list[Entry]", await client.xrange(dead_key, letter_id, letter_id))

    entries = await session.read(read)
    if not entries:
        return None
    letter = parse_letter(*entries[0])
    return None if letter_has_expired(letter, now) else letter


async def remove(session: Session, letter_ids: Sequence[str]) -> int:
    """Remove each letter named; return how many were there."""
    wanted = sorted({letter_id for letter_id in letter_ids if _ID.match(letter_id)})
    if not wanted:
        return 0
    dead_key = session.keys.dead
    return int(await session.write(lambda client: client.xdel(dead_key, *wanted)))
