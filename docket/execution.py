"""Execution: one scheduled run of a task under a key, as producers and tasks see it.

An ``Execution`` is a local view of the record the engine keeps under its
key.  ``sync()`` refreshes it; ``get_result()`` waits for the end and
``subscribe()`` follows every change (see ``docket.following``).  A
``TaskCall`` describes one call to schedule in a batch (``Docket.add_many``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate
from opentelemetry.context import Context
from uncalled_for import get_signature

from docket.annotations import call_repr
from docket.engines.base import ExecutionRecord
from docket.errors import ExecutionCancelled, ExecutionExpired, ExecutionFailed
from docket.execution_progress import ExecutionProgress, ProgressEvent, StateEvent
from docket.racing import until_deadline
from docket.results import fetch_result
from docket.states import Disposition, ExecutionState

if TYPE_CHECKING:
    from docket.docket import Docket

__all__ = [
    "Disposition",
    "Execution",
    "ExecutionCancelled",
    "ExecutionProgress",
    "ExecutionState",
    "ProgressEvent",
    "StateEvent",
    "TaskCall",
]

TaskFunction = Callable[..., Any]


@dataclass(frozen=True)
class TaskCall:
    """One call to schedule, built by ``Docket.call()`` for ``add_many``/``replace_many``.

    Everything is resolved when it is built: the function, its arguments, the
    key (a fresh one unless given) and when it is due.
    """

    function: TaskFunction
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    key: str
    when: datetime
    function_name: str | None = None


class Execution:
    """One run of ``function`` under ``key``, due at ``when``.

    ``function`` is None when the task is not registered with this docket (an
    execution read back from storage); ``function_name`` is always set.
    ``attempt`` is 1-based.  ``disposition`` says what ``add``/``replace`` did
    (``LOADED`` for an execution read back from storage).
    """

    def __init__(
        self,
        docket: Docket,
        function: TaskFunction | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        key: str,
        when: datetime,
        attempt: int = 1,
        trace_context: Context | None = None,
        redelivered: bool = False,
        function_name: str | None = None,
        generation: int = 0,
        message_id: str | None = None,
        *,
        state: ExecutionState = ExecutionState.SCHEDULED,
        disposition: Disposition = Disposition.LOADED,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        name = function_name if function_name is not None else getattr(function, "__name__", None)
        if not isinstance(name, str):
            raise ValueError(f"function_name is needed for {function!r}, got {function_name!r}")
        self.docket = docket
        self.function = function
        self.function_name = name
        self.args = args
        self.kwargs = kwargs
        self.key = key
        self.when = when
        self.attempt = attempt
        self.redelivered = redelivered
        self.generation = generation
        self.message_id = message_id
        self.state = state
        self.disposition = disposition
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self._trace_context = trace_context
        self.worker: str | None = None
        self.started_at: datetime | None = None
        self.completed_at: datetime | None = None
        self.error: str | None = None
        self.schedule_exception: BaseException | None = None
        """The error of this call's schedule in a batch (disposition FAILED)."""
        self.progress = ExecutionProgress(docket, key)
        self._result: bytes | None = None

    @classmethod
    def from_record(
        cls,
        docket: Docket,
        record: ExecutionRecord,
        *,
        disposition: Disposition = Disposition.LOADED,
    ) -> Execution:
        """Build the local view of a stored record.

        Arguments that cannot be decoded are left empty rather than raised:
        reading a record must never fail because of what a producer stored.
        """
        try:
            args, kwargs = docket.codec.decode_call(record.payload, record.function_name)
        except Exception:
            args, kwargs = (), {}
        execution = cls(
            docket,
            docket.tasks.get(record.function_name),
            args,
            kwargs,
            record.key,
            record.when,
            record.attempt,
            function_name=record.function_name,
            disposition=disposition,
            headers=record.headers,
        )
        execution.apply_record(record)
        return execution

    def apply_record(self, record: ExecutionRecord) -> None:
        """Take every field of a stored record of this key."""
        self.generation = record.generation
        self.state = record.state
        self.when = record.when
        self.attempt = record.attempt
        self.worker = record.worker
        self.started_at = record.started_at
        self.completed_at = record.completed_at
        self.error = record.error
        self.headers = record.headers
        self.progress.apply_record(record)
        self._result = record.result

    def forget_result(self) -> None:
        """Drop what this view knows of the stored result (its record is gone)."""
        self._result = None

    @property
    def trace_context(self) -> Context | None:
        """The OpenTelemetry context of the call that scheduled this work, if it carried one."""
        if self._trace_context is None and self.headers:
            self._trace_context = propagate.extract(dict(self.headers))
        return self._trace_context

    @property
    def result_key(self) -> str | None:
        """Where this run's result is kept (``key:generation``), or None if it has none.

        The result lives in the execution's own record, so this is a name for
        it, not a separate storage key as in pydocket.
        """
        if self._result is None:
            return None
        return f"{self.key}:{self.generation}"

    async def sync(self) -> bool:
        """Refresh this view from storage; False if there is no record any more.

        If the record has expired or been removed, the last known state stays.
        """
        record = await self.docket.engine.get_record(self.key, self.docket.clock.now())
        if record is None:
            return False
        self.apply_record(record)
        return True

    async def is_superseded(self) -> bool:
        """Whether the key has been scheduled again since this execution (a newer generation)."""
        record = await self.docket.engine.get_record(self.key, self.docket.clock.now())
        return record is not None and record.generation > self.generation

    async def get_result(
        self,
        *,
        timeout: timedelta | None = None,
        deadline: datetime | None = None,
    ) -> Any:
        """Wait for the execution to end and return the task's value.

        Re-raises the task's own exception if it failed, raises
        ``ExecutionCancelled`` if it was cancelled, and ``TimeoutError`` if
        ``timeout`` (or the aware ``deadline``) passes first on the docket's
        clock.  A timeout of zero only looks at what is stored now.
        """
        from docket.following import wait_for_end

        clock = self.docket.clock
        if deadline is not None and (not isinstance(deadline, datetime) or deadline.tzinfo is None):
            raise ValueError(f"deadline must be a timezone-aware datetime, got {deadline!r}")
        if timeout is not None:
            if not isinstance(timeout, timedelta):
                raise TypeError(f"timeout must be a timedelta, got {timeout!r}")
            by_timeout = clock.now() + timeout
            deadline = by_timeout if deadline is None else min(deadline, by_timeout)
        if not self.state.is_terminal:
            await until_deadline(wait_for_end(self), clock, deadline)
        if self._result is None and self.state is not ExecutionState.CANCELLED:
            self._result = await fetch_result(self.docket, self.key, self.generation)
        return self._outcome()

    async def subscribe(
        self, *, ready: asyncio.Event | None = None
    ) -> AsyncIterator[StateEvent | ProgressEvent]:
        """Yield the current state and progress, then each change, ending after the end.

        Events are pydocket's dicts: ``{"type": "state", "key", "state",
        "when", "worker", "started_at", "completed_at", "error"}`` and
        ``{"type": "progress", "key", "current", "total", "message",
        "updated_at"}``.  It subscribes before it reads, so no change falls
        between the two; ``ready`` is set once it has subscribed.  Unlike
        pydocket's, the stream ends after the terminal state event.
        """
        from docket.following import follow

        async for event in follow(self, ready):
            yield event

    def record_gone(self) -> None:
        """The record vanished before this view saw the end."""
        if self.disposition is Disposition.STRUCK:
            # Struck work was never stored: it ends as cancelled.
            self.state = ExecutionState.CANCELLED
            return
        raise ExecutionExpired(
            f"execution {self.key!r} has no record any more: it ended and its "
            f"execution_ttl ({self.docket.execution_ttl}) has passed"
        )

    def _outcome(self) -> Any:
        if self.state is ExecutionState.CANCELLED:
            raise ExecutionCancelled(f"execution {self.key!r} was cancelled")
        if self.state is ExecutionState.FAILED:
            if self._result is not None:
                # A forged error raises BadSignature; an unreadable one ExecutionFailed.
                error = self.docket.codec.decode_exception(self._result, self.key)
                if isinstance(error, BaseException):
                    raise error
            raise ExecutionFailed(self.error or f"execution {self.key!r} failed")
        if self._result is None:
            return None
        return self.docket.codec.decode_value(self._result, self.key)

    def bound_arguments(self) -> dict[str, Any]:
        """The arguments the caller gave, by parameter name (positional ones included)."""
        arguments = dict(self.kwargs)
        if self.function is not None and self.args:
            try:
                bound = get_signature(self.function).bind_partial(*self.args, **self.kwargs)
            except (TypeError, ValueError):
                return arguments
            arguments.update(bound.arguments)
        return arguments

    def get_argument(self, parameter: str) -> Any:
        """The value the task runs with for ``parameter``: the caller's, else its default.

        Raises KeyError naming the parameter when the task has no such
        parameter, or it was given no value and has no default.
        """
        arguments = self.bound_arguments()
        if parameter in arguments:
            return arguments[parameter]
        if self.function is not None:
            try:
                declared = get_signature(self.function).parameters.get(parameter)
            except (TypeError, ValueError):
                declared = None
            if declared is not None and declared.default is not inspect.Parameter.empty:
                return declared.default
        raise KeyError(
            f"task {self.function_name!r} has no value for argument {parameter!r} "
            f"(arguments: {sorted(arguments)})"
        )

    def general_labels(self) -> Mapping[str, str]:
        """Metric labels for this task, bounded in number (no key)."""
        return {"docket.task": self.function_name}

    def specific_labels(self) -> Mapping[str, str | int]:
        """Log context for this run: task, key, when and attempt."""
        return {
            "docket.task": self.function_name,
            "docket.key": self.key,
            "docket.when": self.when.isoformat(),
            "docket.attempt": self.attempt,
        }

    def call_repr(self) -> str:
        """``name(args...){key}``, as log lines show a call: arguments print as
        ``...`` unless their parameter is annotated ``Logged``."""
        return call_repr(self.function_name, self.function, self.args, self.kwargs, self.key)

    def __repr__(self) -> str:
        return (
            f"<Execution {self.function_name} key={self.key!r} state={self.state.value} "
            f"when={self.when.isoformat()} attempt={self.attempt}>"
        )
