"""Execution: one scheduled run of a task under a key, as producers and tasks see it.

An ``Execution`` is a local view of the record the engine keeps under its key.
``sync()`` refreshes it; ``get_result()`` waits for the end through the
engine's events (subscribing before it reads, so no change can slip between).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from docket.annotations import call_repr
from docket.engines.base import (
    Event,
    ExecutionRecord,
    ProgressEvent,
    ProgressState,
    ProgressUpdate,
    StateEvent,
)
from docket.errors import ExecutionCancelled, ExecutionExpired, ExecutionFailed
from docket.serialization import decode_call, decode_value
from docket.states import Disposition, ExecutionState
from docket.waiting import first_of, until_deadline

if TYPE_CHECKING:
    from docket.docket import Docket

__all__ = [
    "Disposition",
    "Execution",
    "ExecutionProgress",
    "ExecutionState",
    "ProgressEvent",
    "ProgressState",
    "StateEvent",
]


RECHECK_SECONDS = 5.0
"""How often, on the docket's clock, ``get_result`` re-reads a record it is
waiting on, in case the event of its end was lost."""


class ExecutionProgress:
    """A run's progress: ``current`` of ``total``, with a ``message``.

    Updates are written to storage at once and published to subscribers.
    ``total`` is None until set.  Each run has its own progress object, so
    concurrent runs of one task never write into each other's.
    """

    def __init__(self, execution: Execution) -> None:
        self._execution = execution
        self.current = 0
        self.total: int | None = None
        self.message: str | None = None

    def _apply(self, state: ProgressState) -> None:
        self.current, self.total, self.message = state.current, state.total, state.message

    async def _update(self, update: ProgressUpdate) -> None:
        execution = self._execution
        state = await execution.docket.engine.report_progress(
            execution.key, execution.generation, update
        )
        if state is not None:
            self._apply(state)

    async def set_total(self, total: int) -> None:
        """Declare how many steps the run has; ``total`` must be at least 1."""
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            raise ValueError(f"total must be an integer of at least 1, got {total!r}")
        await self._update(ProgressUpdate(total=total))

    async def increment(self, by: int = 1) -> None:
        """Count ``by`` more steps done; ``by`` must be at least 1."""
        if not isinstance(by, int) or isinstance(by, bool) or by < 1:
            raise ValueError(f"by must be an integer of at least 1, got {by!r}")
        await self._update(ProgressUpdate(increment=by))

    async def set_message(self, message: str) -> None:
        """Say what the run is doing now."""
        if not isinstance(message, str):
            raise TypeError(f"message must be a string, got {message!r}")
        await self._update(ProgressUpdate(message=message))

    def __repr__(self) -> str:
        return f"ExecutionProgress(current={self.current}, total={self.total}, message={self.message!r})"


class Execution:
    """One run of ``function`` under ``key``, due at ``when``.

    ``function`` is None when the task is not registered with this docket (an
    execution read back from storage); ``function_name`` is always set.
    ``attempt`` is 1-based.  ``disposition`` says what ``add``/``replace`` did.
    """

    def __init__(
        self,
        docket: Docket,
        function: Callable[..., Any] | None,
        function_name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        key: str,
        when: datetime,
        attempt: int = 1,
        *,
        state: ExecutionState = ExecutionState.SCHEDULED,
        disposition: Disposition = Disposition.SCHEDULED,
        generation: int = 0,
    ) -> None:
        self.docket = docket
        self.function = function
        self.function_name = function_name
        self.args = args
        self.kwargs = kwargs
        self.key = key
        self.when = when
        self.attempt = attempt
        self.state = state
        self.disposition = disposition
        self.generation = generation
        self.worker: str | None = None
        self.started_at: datetime | None = None
        self.completed_at: datetime | None = None
        self.error: str | None = None
        self.progress = ExecutionProgress(self)
        self._result: bytes | None = None

    @classmethod
    def from_record(
        cls,
        docket: Docket,
        record: ExecutionRecord,
        *,
        disposition: Disposition = Disposition.SCHEDULED,
    ) -> Execution:
        """Build the local view of a stored record.

        Arguments that cannot be decoded are left empty rather than raised:
        reading a record must never fail because of what a producer stored.
        """
        try:
            args, kwargs = decode_call(record.payload)
        except Exception:
            args, kwargs = (), {}
        execution = cls(
            docket,
            docket.tasks.get(record.function_name),
            record.function_name,
            args,
            kwargs,
            record.key,
            record.when,
            record.attempt,
            disposition=disposition,
        )
        execution._apply(record)
        return execution

    def _apply(self, record: ExecutionRecord) -> None:
        self.generation = record.generation
        self.state = record.state
        self.when = record.when
        self.attempt = record.attempt
        self.worker = record.worker
        self.started_at = record.started_at
        self.completed_at = record.completed_at
        self.error = record.error
        self.progress._apply(record.progress)
        self._result = record.result

    async def sync(self) -> bool:
        """Refresh this view from storage; False if there is no record any more.

        If the record has expired or been removed, the last known state stays.
        """
        record = await self.docket.engine.get_record(self.key, self.docket.clock.now())
        if record is None:
            return False
        self._apply(record)
        return True

    async def get_result(
        self,
        timeout: timedelta | None = None,
        deadline: datetime | None = None,
    ) -> Any:
        """Wait for the execution to end and return the task's value.

        Re-raises the task's own exception if it failed, raises
        ``ExecutionCancelled`` if it was cancelled, and ``TimeoutError`` if
        ``timeout`` (or the aware ``deadline``) passes first on the docket's
        clock.
        """
        clock = self.docket.clock
        if deadline is not None and deadline.tzinfo is None:
            raise ValueError(f"deadline must be timezone-aware, got {deadline!r}")
        if timeout is not None:
            if not isinstance(timeout, timedelta):
                raise TypeError(f"timeout must be a timedelta, got {timeout!r}")
            by_timeout = clock.now() + timeout
            deadline = by_timeout if deadline is None else min(deadline, by_timeout)
        if not self.state.is_terminal:
            await until_deadline(self._wait_for_end(), clock, deadline)
        return self._outcome()

    async def _wait_for_end(self) -> None:
        engine = self.docket.engine
        async with engine.subscribe(self.key) as events:
            if not await self.sync() and not self.state.is_terminal:
                self._gone()
            if self.state.is_terminal:
                return
            await first_of(self._end_event(events), self._recheck_until_ended())

    async def _recheck_until_ended(self) -> None:
        """Re-read the record now and then, and return once it has ended.

        Events are published with Redis pub/sub, which is at most once: one
        can be lost without the subscription failing (a demoted master
        resyncing after a failover, say).  This bounds how long such a loss
        can keep ``get_result`` waiting.  A record that has gone, or has moved
        on to a later run still going, is left to the event path.
        """
        clock, engine = self.docket.clock, self.docket.engine
        while True:
            await clock.sleep(RECHECK_SECONDS)
            record = await engine.get_record(self.key, clock.now())
            # Only an end is taken from here: applying a later generation that
            # is still going would make the event path skip this one's end.
            if (
                record is not None
                and record.generation >= self.generation
                and record.state.is_terminal
            ):
                self._apply(record)
                return

    async def _end_event(self, events: AsyncIterator[Event]) -> None:
        """Wait for the terminal state event of this execution (or a later generation)."""
        engine = self.docket.engine
        async for event in events:
            if (
                not isinstance(event, StateEvent)
                or event.generation < self.generation
                or not event.state.is_terminal
            ):
                continue
            record = await engine.get_record(self.key, self.docket.clock.now())
            if record is not None and record.generation == event.generation:
                self._apply(record)
            else:
                # The record is already gone (execution_ttl of zero): the
                # event is all there is to know.
                self.generation = event.generation
                self.state = event.state
                self.error = event.error
                self._result = None
            return

    async def subscribe(self) -> AsyncIterator[Event]:
        """Yield the current state and progress, then each change until the end.

        It subscribes before it reads, so no change falls between the two.
        The last event yielded is the terminal StateEvent.
        """
        engine = self.docket.engine
        async with engine.subscribe(self.key) as events:
            found = await self.sync()
            if not found and self.disposition is Disposition.STRUCK:
                self.state = ExecutionState.CANCELLED
            yield StateEvent(self.key, self.state, self.generation, self.worker, self.error)
            yield ProgressEvent(
                self.key,
                self.generation,
                ProgressState(self.progress.current, self.progress.total, self.progress.message),
            )
            if self.state.is_terminal or not found:
                # Without a record no further event can come: it ended long ago.
                return
            async for event in events:
                if event.generation < self.generation:
                    continue
                if isinstance(event, ProgressEvent):
                    self.progress._apply(event.progress)
                    yield event
                    continue
                self.generation = event.generation
                self.state = event.state
                self.worker = event.worker
                self.error = event.error
                if event.state.is_terminal:
                    # Pick up the result and timings the event does not carry.
                    await self.sync()
                    yield event
                    return
                yield event

    def _gone(self) -> None:
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
                try:
                    error = decode_value(self._result)
                except Exception:
                    error = None
                if isinstance(error, BaseException):
                    raise error
            raise ExecutionFailed(self.error or f"execution {self.key!r} failed")
        if self._result is None:
            return None
        return decode_value(self._result)

    def bound_arguments(self) -> dict[str, Any]:
        """The task's arguments by parameter name (positional ones included)."""
        arguments = dict(self.kwargs)
        if self.function is not None and self.args:
            try:
                bound = inspect.signature(self.function).bind_partial(*self.args, **self.kwargs)
            except (TypeError, ValueError):
                return arguments
            arguments.update(bound.arguments)
        return arguments

    def call_repr(self) -> str:
        """``name(args...){key}``, as log lines show a call: arguments print as
        ``...`` unless their parameter is annotated ``Logged``."""
        return call_repr(self.function_name, self.function, self.args, self.kwargs, self.key)

    def __repr__(self) -> str:
        return (
            f"<Execution {self.function_name} key={self.key!r} state={self.state.value} "
            f"when={self.when.isoformat()} attempt={self.attempt}>"
        )
