"""Scheduling on Redis: what ``lua/schedule.lua`` is sent, and what its reply means.

``RedisEngine.schedule`` sends one message and ``schedule_many`` a pipelined
batch; both build each call and read each reply here, so a message means the
same whichever way it travels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from docket.engines.base import ExecutionRecord, ScheduleResult, TaskMessage
from docket.engines.messages import check_message
from docket.engines.redis.codec import Arg, pairs, parse_record
from docket.engines.redis.keys import DocketKeys
from docket.states import Disposition, ExecutionState
from docket.timeutil import epoch_ms, from_epoch_ms

__all__ = ["ScheduleCall", "schedule_call"]


@dataclass(frozen=True)
class ScheduleCall:
    """One call of the schedule script, and how to read its reply."""

    message: TaskMessage
    when_ms: int
    keys: list[str]
    args: list[Arg]

    def result(self, reply: Sequence[Any]) -> tuple[ScheduleResult, bool]:
        """The outcome the script replied, and whether it woke waiting workers."""
        if reply[0] == b"exists":
            record = parse_record(pairs(reply[1]))
            return ScheduleResult(Disposition.ALREADY_SCHEDULED, record), False
        message = self.message
        record = ExecutionRecord(
            key=message.key,
            function_name=message.function_name,
            payload=message.payload,
            when=from_epoch_ms(self.when_ms),
            attempt=message.attempt,
            headers=dict(message.headers),
            generation=int(reply[1]),
            state=ExecutionState(reply[2].decode()),
        )
        return ScheduleResult(Disposition.SCHEDULED, record), bool(reply[3])


def schedule_call(
    keys: DocketKeys, message: TaskMessage, now: datetime, replace: bool
) -> ScheduleCall:
    """The schedule script's keys and arguments for ``message``; ValueError if it is malformed."""
    check_message(message)
    k = keys
    when_ms = epoch_ms(message.when)
    return ScheduleCall(
        message,
        when_ms,
        [k.record(message.key), k.queue, k.future, k.stream, k.generation, k.wake],
        [
            message.key,
            message.function_name,
            message.payload,
            when_ms,
            message.attempt,
            json.dumps(dict(message.headers), separators=(",", ":")),
            epoch_ms(now),
            "1" if replace else "0",
            k.events_prefix,
        ],
    )
