"""Conversions between docket's records and what the Redis engine stores.

Times are stored as integer milliseconds since the Unix epoch (UTC) and read
back as aware UTC datetimes (``docket/timeutil.py`` converts them), so a
millisecond-aligned input compares equal after a round trip.  Strings are UTF-8; payloads and results are raw bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import cast

from docket.engines.records import (
    Cancellation,
    Claim,
    Event,
    ExecutionRecord,
    ProgressChange,
    ProgressState,
    Settlement,
    StateChange,
)
from docket.engines.redis.keys import DocketKeys
from docket.states import ExecutionState
from docket.timeutil import epoch_ms, from_epoch_ms

__all__ = [
    "Arg",
    "Fields",
    "decode_cursor",
    "encode_headers",
    "encode_cursor",
    "settlement_args",
    "decode_fields",
    "loggable_fields",
    "ends",
    "gc_after",
    "pairs",
    "parse_cancellation",
    "parse_claim",
    "parse_state",
    "parse_event",
    "parse_headers",
    "parse_progress",
    "parse_record",
    "parse_strike_change",
]

GC_MARGIN_MS = 60_000
"""The least time a record outlives its ``expires_at`` in Redis.

Expiry is decided against the caller's clock; PEXPIRE only collects garbage,
relative to Redis's own clock.  The margin (at least this, or a quarter of
the ttl) keeps a record whose caller's clock runs slower than the wall clock
(a paused virtual clock, skew between hosts) from being collected early.
"""

Fields = dict[bytes, bytes]

Arg = str | bytes | int
"""One script argument."""


def ends(completed_at: datetime, ttl: timedelta) -> tuple[int, int, int]:
    """``(completed_at, expires_at, gc delay)`` in ms for a record ending now.

    A gc delay of 0 means the record is forgotten at once (ttl of zero or less).
    """
    done, expires = epoch_ms(completed_at), epoch_ms(completed_at + ttl)
    if expires <= done:
        return done, expires, 0
    return done, expires, gc_after(expires - done)


def gc_after(life_ms: int) -> int:
    """The PEXPIRE delay for a key whose contents matter for ``life_ms`` of the caller's time.

    Generous, since the caller's clock (maybe a VirtualClock) and Redis's
    own need not agree; decisions are made against stored times, not by it.
    """
    return life_ms + max(GC_MARGIN_MS, life_ms // 4)


def pairs(flat: Sequence[bytes]) -> Fields:
    """A flat ``[field, value, ...]`` reply as a dict."""
    return {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def decode_fields(fields: Mapping[bytes, bytes]) -> dict[str, str]:
    """Stored fields as text, undecodable bytes escaped, for people to read."""
    return {
        name.decode("utf-8", "backslashreplace"): value.decode("utf-8", "backslashreplace")
        for name, value in fields.items()
    }


_ENCODED_FIELDS = frozenset({b"payload", b"result"})


def loggable_fields(fields: Mapping[bytes, bytes]) -> dict[str, str]:
    """``decode_fields``, with a payload or result shown by its size only.

    A malformed claim's fields go into the worker's log line, which must
    never carry what a producer encoded (the dead letter keeps all of it).
    """
    shown = decode_fields(fields)
    for name in _ENCODED_FIELDS.intersection(fields):
        shown[name.decode()] = f"<{len(fields[name])} bytes>"
    return shown


# Parsing a record is on every claim's path, so it looks fields up by bytes
# names and states up in a table instead of building them each time.
_STATES = {state.value.encode(): state for state in ExecutionState}


def encode_headers(headers: Mapping[str, str]) -> str:
    """Headers as stored: a compact JSON object (most messages have none)."""
    if not headers:
        return "{}"
    return json.dumps(dict(headers), separators=(",", ":"))


def parse_state(stored: bytes) -> ExecutionState:
    """A stored or replied state; ValueError if it is not one."""
    state = _STATES.get(stored)
    if state is None:
        raise ValueError(
            f"{stored.decode(errors='backslashreplace')!r} is not a valid ExecutionState"
        )
    return state


_NO_PROGRESS = ProgressState()


def _required(fields: Fields, name: bytes) -> bytes:
    value = fields.get(name)
    if value is None:
        raise ValueError(f"record has no {name.decode()!r} field")
    return value


def _optional_text(fields: Fields, name: bytes) -> str | None:
    value = fields.get(name)
    return None if value is None else value.decode()


def _optional_time(fields: Fields, name: bytes) -> datetime | None:
    value = fields.get(name)
    return None if value is None else from_epoch_ms(int(value))


def parse_headers(raw: bytes) -> dict[str, str]:
    """Stored headers (a JSON object of strings); ValueError if they are not that."""
    if raw == b"{}":
        return {}
    headers = json.loads(raw)
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ValueError(f"headers must be a JSON object of strings, got {headers!r}")
    return headers


def parse_record(fields: Fields) -> ExecutionRecord:
    """The record stored in a ``runs`` hash; ValueError if it is unreadable."""
    try:
        headers = parse_headers(_required(fields, b"headers"))
        payload = _required(fields, b"payload")
        state = parse_state(_required(fields, b"state"))
        progress_current = fields.get(b"progress_current")
        progress_total = fields.get(b"progress_total")
        progress_message = fields.get(b"progress_message")
        if progress_current is None and progress_total is None and progress_message is None:
            progress = _NO_PROGRESS
        else:
            progress = parse_progress(progress_current, progress_total, progress_message)
        return ExecutionRecord(
            key=_required(fields, b"key").decode(),
            function_name=_required(fields, b"function").decode(),
            payload=payload,
            when=from_epoch_ms(int(_required(fields, b"when"))),
            attempt=int(_required(fields, b"attempt")),
            headers=headers,
            generation=int(_required(fields, b"generation")),
            state=state,
            worker=_optional_text(fields, b"worker"),
            started_at=_optional_time(fields, b"started_at"),
            completed_at=_optional_time(fields, b"completed_at"),
            error=_optional_text(fields, b"error"),
            result=fields.get(b"result"),
            expires_at=_optional_time(fields, b"expires_at"),
            progress=progress,
            suspected=b"suspected" in fields,
            isolated_runs=int(fields.get(b"isolated_runs", 0)),
        )
    except (ValueError, UnicodeDecodeError, OverflowError) as error:
        raise ValueError(f"unreadable record: {error}") from error


def parse_progress(
    current: bytes | None, total: bytes | None, message: bytes | None
) -> ProgressState:
    """Progress as stored in a record (absent fields are the defaults)."""
    return ProgressState(
        current=0 if current is None else int(current),
        total=None if total is None else int(total),
        message=None if message is None else message.decode(),
    )


def parse_claim(reply: Sequence[object], worker: bytes, started_at: bytes) -> Claim:
    """One claim as claiming.lua returns it: ``[delivery, kind, redelivered,
    entry, record[, error]]``, or ``[delivery, b"fresh", field, value, ...]``
    for work this claim moved from the queue, whose record it read as those
    fields before marking it running for ``worker`` at ``started_at``."""
    delivery = cast(bytes, reply[0]).decode()
    kind = reply[1]
    if kind == b"fresh":
        fields = pairs(cast("list[bytes]", reply[2:]))
        fields[b"state"] = b"running"
        fields[b"worker"] = worker
        fields[b"started_at"] = started_at
        return _parsed(delivery, fields, {}, False, 1)
    redelivered = bool(reply[2])
    # A malformed claim is set aside whatever its count; it is only logged.
    deliveries = 2 if redelivered else 1
    raw = pairs(cast("list[bytes]", reply[3]))
    problem = None
    if kind == b"bad":
        problem = "stream entry has no 'key' and 'generation' fields: not written by docket"
    elif kind == b"orphan":
        problem = "its execution record no longer exists (evicted or deleted)"
    elif kind == b"unreadable":
        reason = cast(bytes, reply[5]).decode("utf-8", "backslashreplace")
        problem = f"unreadable record: {reason}"
    if problem is not None:
        return Claim(
            delivery=delivery,
            record=None,
            raw=loggable_fields(raw),
            problem=problem,
            redelivered=redelivered,
            deliveries=deliveries,
        )
    return _parsed(delivery, pairs(cast("list[bytes]", reply[4])), raw, redelivered, deliveries)


def _parsed(
    delivery: str, stored: Fields, raw: Fields, redelivered: bool, deliveries: int
) -> Claim:
    """The claim of a record read as ``stored`` from a stream entry holding ``raw``."""
    try:
        parsed = parse_record(stored)
    except ValueError as error:
        return Claim(
            delivery=delivery,
            record=None,
            raw={**loggable_fields(stored), **loggable_fields(raw)},
            problem=str(error),
            redelivered=redelivered,
            deliveries=deliveries,
        )
    if parsed.suspected:
        return Claim(
            delivery=delivery,
            record=parsed,
            redelivered=redelivered,
            deliveries=2 + parsed.isolated_runs,
            suspect=True,
        )
    return Claim(delivery=delivery, record=parsed)


def parse_event(data: bytes) -> Event:
    """An event as the scripts publish it (cjson-encoded; numbers as strings)."""
    event = json.loads(data)
    if event.get("kind") == "progress":
        total, message = event.get("total"), event.get("message")
        return ProgressChange(
            key=str(event["key"]),
            generation=int(event["generation"]),
            progress=ProgressState(
                current=int(event["current"]),
                total=None if total is None else int(total),
                message=None if message is None else str(message),
            ),
        )
    worker = event.get("worker")
    error = event.get("error")
    return StateChange(
        key=str(event["key"]),
        state=ExecutionState(event["state"]),
        generation=int(event["generation"]),
        worker=None if worker is None else str(worker),
        error=None if error is None else str(error),
    )


def parse_strike_change(data: bytes) -> None:
    """A strike change as ``lua/strikes.lua`` publishes it: watchers only need to know
    one happened (they read the rules again), so nothing is kept."""
    return None


def parse_cancellation(data: bytes) -> Cancellation:
    """A notice as ``lua/cancel.lua`` publishes it (cjson-encoded; numbers as strings)."""
    notice = json.loads(data)
    worker = notice.get("worker")
    return Cancellation(
        key=str(notice["key"]),
        generation=int(notice["generation"]),
        delivery=str(notice["delivery"]),
        worker=None if worker is None else str(worker),
    )


def settlement_args(settlement: Settlement, keys: DocketKeys) -> list[Arg]:
    """The script arguments of one settlement (see ``lua/settling.lua``): 13 for
    a run that ends, 21 for one that is rescheduled.

    ``settlement`` has passed ``messages.check_settlement``.
    """
    retry = settlement.reschedule
    completed_at, expires_at, gc_ms = ends(settlement.completed_at, settlement.ttl)
    args: list[Arg] = [
        settlement.delivery,
        settlement.key,
        settlement.generation,
        settlement.state.value,
        completed_at,
        expires_at,
        gc_ms,
        "0" if settlement.result is None else "1",
        b"" if settlement.result is None else settlement.result,
        "0" if settlement.error is None else "1",
        "" if settlement.error is None else settlement.error,
        "" if settlement.started_at is None else epoch_ms(settlement.started_at),
    ]
    if retry is None:
        return [*args, "0"]
    headers = encode_headers(retry.headers)
    wait_for = settlement.wait_for
    return [
        *args,
        "1",
        retry.function_name,
        retry.payload,
        epoch_ms(retry.when),
        retry.attempt,
        headers,
        "" if wait_for is None else keys.slots(wait_for.gate),
        "" if wait_for is None else keys.parked(wait_for.gate),
        0 if wait_for is None else wait_for.limit,
    ]


def encode_cursor(wake_id: str, version: int, more: bool) -> str:
    """A wait position: the wake stream's last id, the in-process signal's
    version, and whether queued work was left behind."""
    return f"{wake_id} {version} {int(more)}"


def decode_cursor(cursor: str) -> tuple[str, int, bool]:
    """The parts of a cursor made by ``encode_cursor``."""
    try:
        wake_id, version, more = cursor.split(" ")
        return wake_id, int(version), more == "1"
    except ValueError:
        raise ValueError(f"not a cursor from this engine's claim: {cursor!r}") from None
