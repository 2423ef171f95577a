"""Producing on Redis: scheduling, cancelling and clearing work.

The twin of ``memory/scheduling.py``.  ``schedule`` sends one message to
``lua/schedule.lua`` and ``schedule_many`` a pipelined batch; both build each
call and read each reply through ``ScheduleCall``, so a message means the
same whichever way it travels.  ``cancel_many`` is one call of
``lua/cancel.lua`` for all its keys (``cancel`` is a batch of one), and
``clear`` one call of ``lua/clear.lua``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from redis.exceptions import ResponseError

from docket.engines.messages import check_message
from docket.engines.records import RECORD_DEFAULTS, ExecutionRecord, ScheduleResult, TaskMessage
from docket.engines.redis.codec import (
    Arg,
    encode_headers,
    ends,
    pairs,
    parse_record,
    parse_state,
)
from docket.engines.redis.keys import DocketKeys
from docket.engines.redis.session import Session
from docket.frozen import build_frozen
from docket.states import Disposition, ExecutionState
from docket.timeutil import epoch_ms, from_epoch_ms

__all__ = [
    "ScheduleCall",
    "cancel",
    "cancel_many",
    "clear",
    "schedule",
    "schedule_call",
    "schedule_many",
    "scheduled_record",
]


def scheduled_record(
    key: str,
    function_name: str,
    payload: bytes,
    when: datetime,
    attempt: int,
    headers: dict[str, str],
    generation: int,
    state: ExecutionState,
) -> ExecutionRecord:
    """``ExecutionRecord`` of these fields and the defaults of the others: the record
    a schedule just stored, equal to the one its constructor would build.

    Built without the frozen dataclass's ``__init__``, which sets each of its
    seventeen fields through ``object.__setattr__``: on the path of every add
    that costs more than reading the rest of the reply.
    """
    return build_frozen(
        ExecutionRecord,
        RECORD_DEFAULTS,
        key=key,
        function_name=function_name,
        payload=payload,
        when=when,
        attempt=attempt,
        headers=headers,
        generation=generation,
        state=state,
    )


class ScheduleCall:
    """One call of the schedule script, and how to read its reply.

    ``message`` is what is scheduled, ``when_ms`` its due time in epoch
    milliseconds, ``keys`` and ``args`` the script's.  A plain class with
    slots rather than a frozen dataclass: one is built for every add.
    """

    __slots__ = ("args", "keys", "message", "when_ms")

    def __init__(
        self, message: TaskMessage, when_ms: int, keys: list[str], args: list[Arg]
    ) -> None:
        self.message = message
        self.when_ms = when_ms
        self.keys = keys
        self.args = args

    def result(self, reply: Sequence[Any]) -> tuple[ScheduleResult, bool]:
        """The outcome the script replied, and whether it woke waiting workers.

        ResponseError if the script refused the message (its record key holds
        something other than a hash).
        """
        status = reply[0]
        if status == b"error":
            reason = reply[1].decode(errors="backslashreplace")
            raise ResponseError(f"could not schedule {self.message.key!r}: {reason}")
        if status == b"exists":
            record = parse_record(pairs(reply[1]))
            return ScheduleResult(Disposition.ALREADY_SCHEDULED, record), False
        message = self.message
        when = message.when
        # What storage reads back is ``when`` in UTC at whole milliseconds:
        # the message's own when already is that, unless given in another zone.
        if when.tzinfo is not timezone.utc or when.microsecond % 1000:
            when = from_epoch_ms(self.when_ms)
        record = scheduled_record(
            message.key,
            message.function_name,
            message.payload,
            when,
            message.attempt,
            dict(message.headers),
            int(reply[1]),
            parse_state(reply[2]),
        )
        return ScheduleResult(Disposition.SCHEDULED, record), bool(reply[3])


def schedule_call(
    keys: DocketKeys, message: TaskMessage, now: datetime, replace: bool
) -> ScheduleCall:
    """The schedule script's keys and arguments for ``message``; ValueError if it is malformed."""
    check_message(message)
    when_ms = epoch_ms(message.when)
    return ScheduleCall(
        message,
        when_ms,
        [
            keys.record(message.key),
            keys.queue,
            keys.future,
            keys.stream,
            keys.generation,
            keys.wake,
        ],
        [
            message.key,
            message.function_name,
            message.payload,
            when_ms,
            message.attempt,
            encode_headers(message.headers),
            epoch_ms(now),
            "1" if replace else "0",
            keys.events_prefix,
        ],
    )


async def schedule(
    session: Session, message: TaskMessage, now: datetime, replace: bool
) -> ScheduleResult:
    """Store ``message`` under its key unless a live record holds it (see ``Engine``)."""
    call = schedule_call(session.keys, message, now, replace)
    result, woke = call.result(await session.run("schedule", call.keys, call.args))
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
    results: dict[int, ScheduleResult | Exception] = {}
    calls: list[tuple[int, ScheduleCall]] = []
    for index, message in enumerate(messages):
        try:
            calls.append((index, schedule_call(session.keys, message, now, replace)))
        except (ValueError, TypeError) as error:
            results[index] = error
    if not calls:
        return [results[index] for index in range(len(messages))]
    keys = session.keys
    fixed_keys = [keys.queue, keys.future, keys.stream, keys.generation, keys.wake]
    fixed_args: list[Arg] = [epoch_ms(now), "1" if replace else "0", keys.events_prefix]
    chunks = [calls[start : start + KEYS_PER_CALL] for start in range(0, len(calls), KEYS_PER_CALL)]
    script_calls: list[tuple[Sequence[str], Sequence[Arg]]] = []
    for chunk in chunks:
        chunk_keys = list(fixed_keys)
        chunk_args = list(fixed_args)
        for _, call in chunk:
            chunk_keys.append(call.keys[0])
            # key, function, payload, when, attempt, headers (see schedule_call).
            chunk_args.extend(call.args[:6])
        script_calls.append((chunk_keys, chunk_args))
    replies = await session.run_many("schedule_many", script_calls)
    woke = False
    for chunk, reply in zip(chunks, replies, strict=True):
        for position, (index, call) in enumerate(chunk):
            if isinstance(reply, Exception):
                results[index] = reply
                continue
            try:
                results[index], woken = call.result(reply[position])
            except ResponseError as error:
                results[index] = error
                continue
            woke = woke or woken
    if woke:
        session.signal.notify()
    return [results[index] for index in range(len(messages))]


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
