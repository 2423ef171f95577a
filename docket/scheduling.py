"""Scheduling calls: checking them, storing them through the engine, reporting what happened.

``Docket.add``/``replace`` store one call; ``Docket.add_many``/``replace_many``
store a batch of ``TaskCall`` in one engine round trip per chunk.  Either
way each call is checked against the strikes in force, is atomic on its own,
and comes back as an ``Execution`` whose ``disposition`` says what happened
to it: SCHEDULED, ALREADY_SCHEDULED, STRUCK, or in a batch FAILED (with the
error as ``schedule_exception``).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from docket.dependencies.resolution import injected_parameters
from docket.engines.base import ScheduleResult, TaskMessage
from docket.engines.records import MESSAGE_DEFAULTS
from docket.execution import Execution, TaskCall
from docket.frozen import build_frozen
from docket.instrumentation import (
    TASKS_ADDED,
    TASKS_SCHEDULED,
    TASKS_STRICKEN,
    Counter,
    producer_span,
    trace_headers,
    tracing_enabled,
)
from docket.states import Disposition
from docket.timeutil import EPOCH, truncate_to_ms, utc

if TYPE_CHECKING:
    from docket.docket import Docket

__all__ = ["Scheduler", "check_key", "check_when", "fresh_key"]

logger = logging.getLogger("docket.docket")

TaskFunction = Callable[..., Any]


def check_when(when: datetime | None, parameter: str = "when") -> None:
    """Refuse a ``when`` that is not an aware datetime (None means now)."""
    if when is None:
        return
    if not isinstance(when, datetime):
        raise TypeError(f"{parameter} must be a datetime, got {when!r}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(
            f"{parameter} must be timezone-aware (e.g. datetime.now(timezone.utc)), got {when!r}"
        )


def check_key(key: str | None) -> None:
    """Refuse a key that is not a non-empty string (None means a fresh one)."""
    if key is None:
        return
    if not isinstance(key, str) or not key:
        raise ValueError(f"key must be a non-empty string, got {key!r}")


def fresh_key() -> str:
    """A new random key: a version 4 UUID as text, exactly as ``str(uuid.uuid4())``.

    Built from ``os.urandom`` as ``uuid.uuid4`` is, without the ``UUID``
    object and its integer formatting, since every call given no key needs one.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_CALL_DEFAULTS = dict(vars(TaskCall(build_frozen, (), {}, "", EPOCH)))
# The sub-millisecond parts a time can have, to subtract from it.
_SUB_MILLISECOND = tuple(timedelta(microseconds=micros) for micros in range(1000))


def _whole_ms(when: datetime) -> datetime:
    """``truncate_to_ms(when)``; by subtraction in UTC, cheaper than ``replace``."""
    micros = when.microsecond % 1000
    if not micros:
        return when
    if when.tzinfo is timezone.utc and not when.fold:
        return when - _SUB_MILLISECOND[micros]
    return truncate_to_ms(when)


def check_chunk_size(chunk_size: int | None) -> None:
    """Refuse a batch chunk size that is not a positive integer (None means one chunk)."""
    if chunk_size is not None and (
        not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")


class Scheduler:
    """Stores calls for one docket and builds the ``Execution`` of each."""

    def __init__(self, docket: Docket) -> None:
        self.docket = docket

    def call(
        self,
        name: str,
        function: TaskFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        when: datetime | None,
        key: str | None,
        now: datetime | None = None,
    ) -> TaskCall:
        """Check a call's arguments and fix its key and due time (``now`` unless ``when``)."""
        check_arguments(name, function, args, kwargs)
        if when is not None:
            when = utc(when)
        elif now is not None:
            when = now
        else:
            when = self.docket.clock.now()
        return build_frozen(
            TaskCall,
            _CALL_DEFAULTS,
            function=function,
            args=args,
            kwargs=kwargs,
            key=key if key is not None else fresh_key(),
            when=_whole_ms(when),
            function_name=name,
        )

    async def schedule(
        self, call: TaskCall, *, replace: bool, now: datetime | None = None
    ) -> Execution:
        """Store one call (``add`` or ``replace``); a strike refuses it before anything is stored.

        ``now`` is the docket clock's, when the caller has just read it.
        """
        docket = self.docket
        name = _name(call)
        TASKS_ADDED.add(1, {"docket.name": docket.name, "docket.task": name})
        if not tracing_enabled():
            # The same steps as below, without a span to enter and annotate.
            if self._struck(call, name):
                return self._execution(call, Disposition.STRUCK)
            message = self._message(call, name, trace_headers())
            outcome = await docket.engine.schedule(
                message, now if now is not None else docket.clock.now(), replace=replace
            )
            return self._reported(call, name, message, outcome)
        with producer_span(
            "replace" if replace else "add",
            docket.name,
            {"docket.task": name, "docket.key": call.key, "docket.when": call.when},
        ) as span:
            if self._struck(call, name):
                span.set_attribute("docket.disposition", Disposition.STRUCK.value)
                return self._execution(call, Disposition.STRUCK)
            message = self._message(call, name, trace_headers())
            outcome = await docket.engine.schedule(
                message, now if now is not None else docket.clock.now(), replace=replace
            )
            span.set_attribute("docket.disposition", outcome.disposition.value)
        return self._reported(call, name, message, outcome)

    async def schedule_many(
        self, calls: Iterable[TaskCall], *, replace: bool, chunk_size: int | None
    ) -> list[Execution]:
        """Store a batch, one engine round trip per ``chunk_size`` calls, in order.

        What is the same for every call is worked out once per batch: whether
        any strike is in force, the trace headers (every call is sent under
        the batch's one span), and the counters, added once per task name.
        """
        check_chunk_size(chunk_size)
        batch = list(calls)
        for call in batch:
            if not isinstance(call, TaskCall):
                raise TypeError(
                    f"calls must hold TaskCall objects (docket.call(...)), got {call!r}"
                )
        docket = self.docket
        results: list[Execution | None] = [None] * len(batch)
        pending: list[tuple[int, TaskCall, str, TaskMessage]] = []
        with producer_span(
            "replace_many" if replace else "add_many",
            docket.name,
            {"docket.count": str(len(batch))},
        ):
            headers = trace_headers()
            striking = bool(docket.strike_list.rules.rules)
            added: dict[str, int] = {}
            try:
                for index, call in enumerate(batch):
                    name = _name(call)
                    added[name] = added.get(name, 0) + 1
                    if striking and self._struck(call, name):
                        results[index] = self._execution(call, Disposition.STRUCK)
                    else:
                        message = self._message(call, name, dict(headers) if headers else {})
                        pending.append((index, call, name, message))
            finally:
                _count(TASKS_ADDED, docket.name, added)
            size = chunk_size or max(1, len(pending))
            for start in range(0, len(pending), size):
                chunk = pending[start : start + size]
                outcomes = await docket.engine.schedule_many(
                    [message for _, _, _, message in chunk], docket.clock.now(), replace=replace
                )
                scheduled: dict[str, int] = {}
                for (index, call, name, message), outcome in zip(chunk, outcomes, strict=True):
                    if (
                        type(outcome) is ScheduleResult
                        and outcome.disposition is Disposition.SCHEDULED
                    ):
                        # _reported's commonest case, counted per chunk.
                        scheduled[name] = scheduled.get(name, 0) + 1
                        results[index] = self._stored(
                            call, name, message, outcome, Disposition.SCHEDULED
                        )
                    else:
                        results[index] = self._reported(call, name, message, outcome)
                _count(TASKS_SCHEDULED, docket.name, scheduled)
        return [execution for execution in results if execution is not None]

    def _struck(self, call: TaskCall, name: str) -> bool:
        docket = self.docket
        if not docket.strike_list.rules.rules:
            return False  # the common case, asked of every call
        if not docket.is_stricken(name, call.function, call.args, call.kwargs):
            return False
        logger.warning("%r is stricken, skipping schedule of %r", name, call.key)
        TASKS_STRICKEN.add(
            1, {"docket.name": docket.name, "docket.task": name, "docket.where": "docket"}
        )
        return True

    def _message(self, call: TaskCall, name: str, headers: dict[str, str]) -> TaskMessage:
        codec = self.docket.codec
        payload = codec.encode_call(name, call.args, call.kwargs, call.function)
        codec.check_payload_size(name, payload)
        return build_frozen(
            TaskMessage,
            MESSAGE_DEFAULTS,
            key=call.key,
            function_name=name,
            payload=payload,
            when=call.when,
            headers=headers,
        )

    def _reported(
        self,
        call: TaskCall,
        name: str,
        message: TaskMessage,
        outcome: ScheduleResult | Exception,
    ) -> Execution:
        """The Execution reporting one stored call's outcome."""
        docket = self.docket
        if isinstance(outcome, Exception):
            logger.warning(
                "Could not schedule %r: %s: %s", call.key, type(outcome).__name__, outcome
            )
            execution = self._execution(call, Disposition.FAILED)
            execution.schedule_exception = outcome
            return execution
        disposition = outcome.disposition
        if disposition is Disposition.ALREADY_SCHEDULED:
            return Execution.from_record(docket, outcome.record, disposition=disposition)
        if disposition is Disposition.SCHEDULED:
            TASKS_SCHEDULED.add(1, {"docket.name": docket.name, "docket.task": name})
        return self._stored(call, name, message, outcome, disposition)

    def _stored(
        self,
        call: TaskCall,
        name: str,
        message: TaskMessage,
        outcome: ScheduleResult,
        disposition: Disposition,
    ) -> Execution:
        """The Execution of ``call`` as stored: ``outcome``'s generation and state."""
        return Execution(
            self.docket,
            call.function,
            call.args,
            call.kwargs,
            call.key,
            call.when,
            function_name=name,
            generation=outcome.generation,
            state=outcome.state,
            disposition=disposition,
            headers=message.headers,
        )

    def _execution(self, call: TaskCall, disposition: Disposition) -> Execution:
        return Execution(
            self.docket,
            call.function,
            call.args,
            call.kwargs,
            call.key,
            call.when,
            function_name=_name(call),
            disposition=disposition,
        )


def _count(counter: Counter, docket_name: str, counts: dict[str, int]) -> None:
    """Add each task's count to ``counter``: one add per task name, not one per call."""
    for name, count in counts.items():
        counter.add(count, {"docket.name": docket_name, "docket.task": name})


def _name(call: TaskCall) -> str:
    name = call.function_name or getattr(call.function, "__name__", None)
    if not isinstance(name, str):
        raise ValueError(f"TaskCall names no task: {call!r}")
    return name


# Whether arguments fit a task depends only on the task, how many arguments are
# positional and the names of the keywords: shapes that fitted are remembered,
# so that a task scheduled again and again binds its signature once.
_FITTING: set[tuple[TaskFunction, int, tuple[str, ...]]] = set()
_FITTING_LIMIT = 4096


def check_arguments(
    name: str, function: TaskFunction, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Raise TypeError at scheduling time for arguments the task could never accept."""
    shape: tuple[TaskFunction, int, tuple[str, ...]] | None = (function, len(args), tuple(kwargs))
    try:
        if shape in _FITTING:
            return
    except TypeError:  # an unhashable callable is checked every time
        shape = None
    _check_arguments(name, function, args, kwargs)
    if shape is not None and len(_FITTING) < _FITTING_LIMIT:
        _FITTING.add(shape)


def _check_arguments(
    name: str, function: TaskFunction, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    signature = _signature(function)
    if signature is None:
        return
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"arguments do not fit task {name!r}{signature}: {error}") from None
    missing = [
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.default is parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        and parameter.name not in bound.arguments
    ]
    if missing:
        # Parameters the worker injects (an Annotated provider may have no
        # default) are not the caller's to supply.
        injected = injected_parameters(function)
        missing = [name for name in missing if name not in injected]
    if missing:
        raise TypeError(
            f"arguments do not fit task {name!r}{signature}: "
            f"missing required argument(s) {', '.join(repr(m) for m in missing)}"
        )


@functools.lru_cache(maxsize=4096)
def _cached_signature(function: TaskFunction) -> inspect.Signature | None:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _signature(function: TaskFunction) -> inspect.Signature | None:
    """``function``'s signature, cached: scheduling checks arguments against it on every call."""
    try:
        return _cached_signature(function)
    except TypeError:  # unhashable callables cannot be cached
        return _cached_signature.__wrapped__(function)
