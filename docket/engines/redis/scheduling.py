"""Producing on Redis: scheduling, cancelling and clearing work.

The twin of ``memory/scheduling.py``.  ``schedule`` sends one message to
``lua/schedule.lua`` and ``schedule_many`` a pipelined batch; both send each
message as ``schedule_args`` and read each reply with ``schedule_outcome``,
so a message means the same whichever way it travels.  ``cancel_many`` is
one call of ``lua/cancel.lua`` for all its keys (``cancel`` is a batch of
one), and ``clear`` one call of ``lua/clear.lua``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from redis.exceptions import ResponseError

from docket.engines.messages import check_message
from docket.engines.records import TaskMessage
from docket.engines.redis.codec import (
    Arg,
    encode_headers,
    ends,
    pairs,
    parse_record,
)
from docket.engines.redis.session import Session
from docket.engines.schedule_result import ScheduleResult
from docket.states import Disposition, ExecutionState
from docket.timeutil import epoch_ms, from_epoch_ms

__all__ = [
    "cancel",
    "cancel_many",
    "clear",
    "schedule",
    "schedule_args",
    "schedule_many",
    "schedule_outcome",
]


# What a scheduled message's reply (generation * 4 + flags) says besides its generation.
_SCHEDULED_FLAGS = (
    (ExecutionState.QUEUED, False),
    (ExecutionState.QUEUED, True),
    (ExecutionState.SCHEDULED, False),
    (ExecutionState.SCHEDULED, True),
)


def schedule_outcome(message: TaskMessage, reply: Any) -> tuple[ScheduleResult, bool]:
    """The outcome the schedule script replied for ``message``, and whether it woke workers.

    ``reply`` is an integer (generation * 4 + 2 if SCHEDULED + 1 if it woke
    waiting workers) when the message was scheduled, else a list (see
    ``lua/scheduling.lua``).  ResponseError if the script refused the
    message (its record key holds something other than a hash).
    """
    if type(reply) is int:
        generation, flags = divmod(reply, 4)
        state, woke = _SCHEDULED_FLAGS[flags]
        when = message.when
        # What storage reads back is ``when`` in UTC at whole milliseconds:
        # the message's own when already is that, unless given in another zone.
        if when.tzinfo is not timezone.utc or when.microsecond % 1000:
            when = from_epoch_ms(epoch_ms(when))
        return ScheduleResult.stored(message, when, generation, state), woke
    if reply[0] == b"exists":
        record = parse_record(pairs(reply[1]))
        return ScheduleResult(Disposition.ALREADY_SCHEDULED, record), False
    reason = reply[1].decode(errors="backslashreplace")
    raise ResponseError(f"could not schedule {message.key!r}: {reason}")


def schedule_args(message: TaskMessage) -> tuple[str, str, bytes, int, int, str]:
    """The script's six values for ``message`` (key, function, payload, when, attempt,
    headers); ValueError if it is malformed."""
    check_message(message)
    return (
        message.key,
        message.function_name,
        message.payload,
        epoch_ms(message.when),
        message.attempt,
        encode_headers(message.headers),
    )


async def schedule(
    session: Session, message: TaskMessage, now: datetime, replace: bool
) -> ScheduleResult:
    """Store ``message`` under its key unless a live record holds it (see ``Engine``)."""
    keys = session.keys
    values = schedule_args(message)
    reply = await session.run(
        "schedule",
        [
            keys.record(message.key),
            keys.queue,
            keys.future,
            keys.stream,
            keys.generation,
            keys.wake,
        ],
        [*values, epoch_ms(now), "1" if replace else "0", keys.events_prefix],
    )
    result, woke = schedule_outcome(message, reply)
    if woke:
        session.signal.notify()
    return result


# Keys (messages to schedule, or keys to cancel) per script call of a batch:
# a batch is still one round trip, and no one script holds Redis for long.
KEYS_PER_CALL = 500


async def schedule_many(
    session: Session, messages: Sequence[TaskMessage], now: datetime, replace: bool
) -> list[ScheduleResult | Exception]:
    """``schedule`` each message in order, in one round trip; errors come back in place.

    The messages go as ``lua/schedule_many.lua`` calls of up to
    ``KEYS_PER_CALL`` each, pipelined.  A message that cannot be sent (a
    malformed one) or that the script refused has its error in its place; a
    call the server refused as a whole (out of memory, say) has its error in
    the place of each of its messages.
    """
    results: list[ScheduleResult | Exception | None] = [None] * len(messages)
    keys = session.keys
    runs_prefix = keys.runs_prefix
    fixed_keys = [keys.queue, keys.future, keys.stream, keys.generation, keys.wake]
    fixed_args: list[Arg] = [epoch_ms(now), "1" if replace else "0", keys.events_prefix]
    # Per script call: the indices of its messages, its keys, its arguments.
    chunks: list[tuple[list[int], list[str], list[Arg]]] = []
    indices: list[int] = []
    for index, message in enumerate(messages):
        try:
            values = schedule_args(message)
        except (ValueError, TypeError) as error:
            results[index] = error
            continue
        if not indices or len(indices) == KEYS_PER_CALL:
            indices = []
            chunks.append((indices, list(fixed_keys), list(fixed_args)))
        _, chunk_keys, chunk_args = chunks[-1]
        indices.append(index)
        chunk_keys.append(runs_prefix + message.key)  # keys.record(message.key)
        chunk_args.extend(values)
    if chunks:
        replies = await session.run_many(
            "schedule_many", [(chunk_keys, chunk_args) for _, chunk_keys, chunk_args in chunks]
        )
        woke = False
        for (chunk_indices, _, _), reply in zip(chunks, replies, strict=True):
            if isinstance(reply, Exception):
                for index in chunk_indices:
                    results[index] = reply
                continue
            for index, one in zip(chunk_indices, reply, strict=True):
                try:
                    results[index], woken = schedule_outcome(messages[index], one)
                except ResponseError as error:
                    results[index] = error
                    continue
                woke = woke or woken
        if woke:
            session.signal.notify()
    return cast("list[ScheduleResult | Exception]", results)


async def cancel(session: Session, key: str, now: datetime, ttl: timedelta) -> bool:
    """Cancel SCHEDULED, QUEUED or RUNNING work under ``key``; True if this call did."""
    return (await cancel_many(session, [key], now, ttl))[0]


async def cancel_many(
    session: Session, keys: Sequence[str], now: datetime, ttl: timedelta
) -> list[bool]:
    """``cancel`` each key in order, in one round trip; True where that key's work ended.

    Up to ``KEYS_PER_CALL`` keys per ``lua/cancel.lua`` call, pipelined, so
    that no one script holds Redis for long however many keys come at once.
    """
    if not keys:
        return []
    names = session.keys
    fixed_keys = [names.queue, names.future, names.stream, names.holders]
    fixed_args: list[Arg] = [*ends(now, ttl), names.events_prefix, names.cancellation_channel]
    calls: list[tuple[Sequence[str], Sequence[Arg]]] = [
        (
            [*fixed_keys, *(names.record(key) for key in chunk)],
            [*fixed_args, *chunk],
        )
        for chunk in (
            keys[start : start + KEYS_PER_CALL] for start in range(0, len(keys), KEYS_PER_CALL)
        )
    ]
    if len(calls) == 1:
        replies = [await session.run("cancel", *calls[0])]
    else:
        replies = await session.run_many("cancel", calls)
    cancelled: list[bool] = []
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
        cancelled.extend(bool(flag) for flag in reply)
    return cancelled


async def clear(session: Session, now: datetime, ttl: timedelta) -> int:
    """Cancel every SCHEDULED and QUEUED execution; return how many."""
    keys = session.keys
    reply = await session.run(
        "clear",
        [keys.queue, keys.future, keys.stream],
        [keys.runs_prefix, keys.events_prefix, *ends(now, ttl)],
    )
    return int(reply)
