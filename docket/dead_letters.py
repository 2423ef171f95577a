"""Dead letters from the producer's side: listing, inspecting, replaying and purging them.

A worker sets aside a delivery it cannot run (malformed, an unknown task,
delivered too often) as a dead letter that keeps the whole message: the
task's name, key, encoded arguments, due time, attempt and headers, with the
reason, the worker, the delivery and when it happened.  A letter lives for
the ``Docket``'s ``dead_letter_retention`` after it was set aside, on the
docket's clock, however long its execution record lives.

``DeadLetterMethods`` holds the ``Docket`` methods that read and act on
letters (``Docket`` inherits them, so they are documented there too);
``decode_arguments`` turns a letter's payload back into arguments.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from docket.engines.base import DEAD_LETTER_LIMIT, DeadLetter, Engine, TaskMessage
from docket.errors import BadSignature
from docket.execution import Execution
from docket.instrumentation import producer_span
from docket.scheduling import check_key, check_when
from docket.serialization import DEFAULT_CODEC, Codec
from docket.states import Disposition
from docket.timeutil import duration_seconds, truncate_to_ms, utc

if TYPE_CHECKING:
    from docket.clock import Clock
    from docket.docket import Docket

__all__ = [
    "UNKNOWN_SINCE_HEADER",
    "DeadLetter",
    "DeadLetterMethods",
    "check_retention",
    "decode_arguments",
    "matches",
]

LetterRef = DeadLetter | str
"""A letter, or its id."""

UNKNOWN_SINCE_HEADER = "docket-unknown-task-since"
"""The header (epoch milliseconds) a worker keeps on work whose task it does not
know, saying since when (``worker/unknown_tasks.py``); a replay drops it, so the
replayed work gets the whole ``unknown_task_grace`` again."""


def check_retention(retention: timedelta | float) -> timedelta:
    """``retention`` as a timedelta; refused unless it is a positive duration."""
    seconds = duration_seconds(retention, "dead_letter_retention")
    if seconds <= 0:
        raise ValueError(f"dead_letter_retention must be positive, got {retention!r}")
    return retention if isinstance(retention, timedelta) else timedelta(seconds=seconds)


def decode_arguments(
    letter: DeadLetter, codec: Codec | None = None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The ``(args, kwargs)`` a letter's payload encodes.

    Decoding uses ``codec`` (pass the docket's, ``docket.codec``; by default
    unsigned cloudpickle), as a worker does: with pickle it may import the
    task's module and, like any cloudpickle payload, run code, so decode
    letters with the docket's signing keys or only from producers you trust.
    A ValueError names the letter when it holds no payload (a malformed
    message) or the payload cannot be decoded; ``BadSignature`` (a
    ValueError too) when its signature does not hold.
    """
    if letter.payload is None:
        raise ValueError(f"dead letter {letter.id!r} holds no arguments: {letter.reason}")
    codec = codec or DEFAULT_CODEC
    try:
        return codec.decode_call(letter.payload, letter.function_name or "")
    except BadSignature as error:
        raise BadSignature(f"dead letter {letter.id!r}: {error}") from None
    except Exception as error:
        raise ValueError(
            f"the arguments of dead letter {letter.id!r} cannot be decoded: "
            f"{type(error).__name__}: {error}"
        ) from error


def matches(letter: DeadLetter, task: str | None, reason: str | None) -> bool:
    """Whether ``letter`` is of task ``task`` (exactly) and its reason contains ``reason``."""
    return (task is None or letter.function_name == task) and (
        reason is None or reason in letter.reason
    )


def _check_filter(value: str | None, parameter: str) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{parameter} must be a non-empty string or None, got {value!r}")


def _letter_id(letter: object, parameter: str) -> str:
    if isinstance(letter, DeadLetter):
        return letter.id
    if not isinstance(letter, str) or not letter:
        raise ValueError(f"{parameter} must be a DeadLetter or a letter id, got {letter!r}")
    return letter


class DeadLetterMethods:
    """The ``Docket`` methods on dead letters (``Docket`` inherits them)."""

    name: str
    clock: Clock
    dead_letter_retention: timedelta
    codec: Codec

    if TYPE_CHECKING:

        @property
        def engine(self) -> Engine: ...

    async def dead_letters(
        self, limit: int = 100, *, task: str | None = None, reason: str | None = None
    ) -> list[DeadLetter]:
        """The latest ``limit`` letters, oldest first (set-aside order).

        ``task`` keeps only letters of that task name (exact match);
        ``reason`` only those whose reason contains it (a case-sensitive
        substring, such as ``"unknown task"``).  Expired letters are never
        listed.  Only the latest ``DEAD_LETTER_LIMIT`` letters are searched.
        """
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        _check_filter(task, "task")
        _check_filter(reason, "reason")
        now = self.clock.now()
        if task is None and reason is None:
            return await self.engine.dead_letters(limit, now)
        letters = await self.engine.dead_letters(DEAD_LETTER_LIMIT, now)
        found = [letter for letter in letters if matches(letter, task, reason)]
        return found[-limit:]

    async def dead_letter(self, letter_id: str) -> DeadLetter | None:
        """The letter ``letter_id``, or None if there is none (or it expired)."""
        if not isinstance(letter_id, str) or not letter_id:
            raise ValueError(f"letter_id must be a non-empty string, got {letter_id!r}")
        return await self.engine.dead_letter(letter_id, self.clock.now())

    async def replay_dead_letter(
        self, letter: LetterRef, when: datetime | None = None, key: str | None = None
    ) -> Execution:
        """Schedule a letter's message again, now or at the aware datetime ``when``.

        The task runs with the letter's payload, byte for byte, as attempt 1
        (and with the whole ``unknown_task_grace`` again, should a worker not
        know it),
        under ``key`` (by default the letter's own key, or a fresh one if it
        had none).  As with ``add``, a key that is still live schedules
        nothing (disposition ALREADY_SCHEDULED).  Once the message is
        scheduled the letter is removed; it is kept otherwise.  Strikes are
        not consulted here: a worker cancels struck work when it meets it.
        The task need not be registered with this docket.

        A ValueError names ``letter`` when no such letter exists or it holds
        no message to replay (it was malformed); ``BadSignature`` when this
        docket signs and the letter's payload is not signed by one of its
        keys (nothing forged is put back in the queue); bad ``when`` or
        ``key`` values are refused as ``add`` refuses them.
        """
        letter_id = _letter_id(letter, "letter")
        check_when(when)
        check_key(key)
        now = self.clock.now()
        found = await self.engine.dead_letter(letter_id, now)
        if found is None:
            raise ValueError(f"letter {letter_id!r}: no such dead letter in docket {self.name!r}")
        if found.payload is None or not found.function_name:
            raise ValueError(
                f"letter {letter_id!r} holds no message to replay "
                f"(it was set aside because: {found.reason})"
            )
        if self.codec.signed:
            # Checked without decoding: replay must not put forged work back in the queue.
            self.codec.verify_call(found.payload, found.function_name, f"letter {letter_id!r}")
        message = TaskMessage(
            key=key or found.key or str(uuid.uuid4()),
            function_name=found.function_name,
            payload=found.payload,
            when=truncate_to_ms(now if when is None else utc(when)),
            headers={
                name: value for name, value in found.headers.items() if name != UNKNOWN_SINCE_HEADER
            },
        )
        with producer_span(
            "replay",
            self.name,
            {"docket.task": message.function_name, "docket.key": message.key},
        ) as span:
            result = await self.engine.schedule(message, now, replace=False)
            span.set_attribute("docket.disposition", result.disposition.value)
        if result.disposition is Disposition.SCHEDULED:
            await self.engine.remove_dead_letters([letter_id])
        return Execution.from_record(
            cast("Docket", self), result.record, disposition=result.disposition
        )

    async def purge_dead_letters(
        self,
        *letters: LetterRef,
        task: str | None = None,
        reason: str | None = None,
        everything: bool = False,
    ) -> int:
        """Remove letters for good; return how many were removed.

        Give the ``letters`` (or their ids) to remove; or ``task`` and/or
        ``reason`` (matched as ``dead_letters`` matches them) to remove every
        letter that matches; or ``everything=True`` to remove them all.
        Exactly one of the three ways must be used.  Ids that name no letter
        are skipped, so purging is idempotent, and are not counted.
        """
        ids = [_letter_id(letter, "letters") for letter in letters]
        _check_filter(task, "task")
        _check_filter(reason, "reason")
        if not isinstance(everything, bool):
            raise TypeError(f"everything must be a bool, got {everything!r}")
        filtered = task is not None or reason is not None
        if sum((bool(ids), filtered, everything)) != 1:
            raise ValueError(
                "purge_dead_letters needs exactly one of: letters, task/reason, or "
                f"everything=True; got letters={ids!r}, task={task!r}, reason={reason!r}, "
                f"everything={everything!r}"
            )
        if not ids:
            found = await self.engine.dead_letters(DEAD_LETTER_LIMIT, self.clock.now())
            ids = [letter.id for letter in found if everything or matches(letter, task, reason)]
        return await self.engine.remove_dead_letters(ids) if ids else 0
