"""A run's progress (``ExecutionProgress``) and the events subscribers receive.

``StateEvent`` and ``ProgressEvent`` are the dicts ``Execution.subscribe()``
yields, shaped as pydocket's: times are ISO 8601 strings and states their
string values.  ``ExecutionProgress`` is the progress of the run under one
key: ``current`` of ``total`` steps, with a ``message``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypedDict

from docket.engines.base import ExecutionRecord, ProgressChange, ProgressState, ProgressUpdate
from docket.states import ExecutionState

if TYPE_CHECKING:
    from typing_extensions import Self

    from docket.docket import Docket

__all__ = [
    "DEFAULT_TOTAL",
    "ExecutionProgress",
    "ProgressEvent",
    "StateEvent",
    "iso",
]

DEFAULT_TOTAL = 100
"""``total`` until the task sets one, as in pydocket."""


class ProgressEvent(TypedDict):
    """A change of a run's progress, as ``Execution.subscribe()`` yields it."""

    type: Literal["progress"]
    key: str
    current: int | None
    total: int
    message: str | None
    updated_at: str | None


class StateEvent(TypedDict):
    """A change of an execution's state, as ``Execution.subscribe()`` yields it."""

    type: Literal["state"]
    key: str
    state: str
    when: str
    worker: str | None
    started_at: str | None
    completed_at: str | None
    error: str | None


def iso(moment: datetime | None) -> str | None:
    """``moment`` as ISO 8601, or None."""
    return None if moment is None else moment.isoformat()


class ExecutionProgress:
    """The progress of the run under ``key``: ``current`` of ``total``, with a ``message``.

    Updates are written to storage at once and published to subscribers; they
    apply only while the key's run is going (a write at any other time
    changes nothing).  ``current`` is None until a run starts, ``total`` is
    100 until set, and an empty message reads as None.  Unlike pydocket,
    the last progress of a run stays readable after it ends, for as long as
    its record is kept.
    """

    def __init__(self, docket: Docket, key: str) -> None:
        self.docket = docket
        self.key = key
        self.current: int | None = None
        self.total: int = DEFAULT_TOTAL
        self.message: str | None = None
        self.updated_at: datetime | None = None
        # The generation of the run this reporter writes to, when it belongs
        # to a running execution; otherwise read from storage on each write.
        self.generation: int | None = None

    @classmethod
    async def create(cls, docket: Docket, key: str) -> Self:
        """A reporter for ``key``, read from storage."""
        progress = cls(docket, key)
        await progress.sync()
        return progress

    def apply(self, state: ProgressState, execution_state: ExecutionState) -> None:
        """Take the values of one stored or published progress state."""
        started = execution_state not in (ExecutionState.SCHEDULED, ExecutionState.QUEUED)
        self.current = state.current if started else None
        self.total = DEFAULT_TOTAL if state.total is None else state.total
        self.message = state.message or None

    def apply_record(self, record: ExecutionRecord) -> None:
        """Take the progress kept in ``record``."""
        self.apply(record.progress, record.state)

    async def sync(self) -> None:
        """Refresh from storage (values stay as they were if there is no record)."""
        record = await self.docket.engine.get_record(self.key, self.docket.clock.now())
        if record is not None:
            self.apply_record(record)

    async def _update(self, update: ProgressUpdate) -> None:
        generation = self.generation
        if generation is None:
            record = await self.docket.engine.get_record(self.key, self.docket.clock.now())
            if record is None or record.state is not ExecutionState.RUNNING:
                return
            generation = record.generation
        state = await self.docket.engine.report_progress(self.key, generation, update)
        if state is not None:
            self.apply(state, ExecutionState.RUNNING)
            self.updated_at = self.docket.clock.now()

    async def set_total(self, total: int) -> None:
        """Declare how many steps the run has; ``total`` must be at least 1."""
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            raise ValueError(f"total must be an integer of at least 1, got {total!r}")
        await self._update(ProgressUpdate(total=total))

    async def increment(self, amount: int = 1) -> None:
        """Count ``amount`` more steps done; ``amount`` must be at least 1."""
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
            raise ValueError(f"amount must be an integer of at least 1, got {amount!r}")
        await self._update(ProgressUpdate(increment=amount))

    async def set_message(self, message: str | None) -> None:
        """Say what the run is doing now; None clears the message."""
        if message is not None and not isinstance(message, str):
            raise TypeError(f"message must be a string or None, got {message!r}")
        # Storage keeps an empty message for "none", which reads back as None.
        await self._update(ProgressUpdate(message=message or ""))

    def event(self) -> ProgressEvent:
        """This progress as the event a subscriber receives."""
        return {
            "type": "progress",
            "key": self.key,
            "current": self.current,
            "total": self.total,
            "message": self.message,
            "updated_at": iso(self.updated_at),
        }

    async def subscribe(
        self, *, ready: asyncio.Event | None = None
    ) -> AsyncIterator[ProgressEvent]:
        """Yield each progress change of ``key`` from now on, until the caller stops.

        ``ready`` is set once the subscription is in place, so an update made
        after that is never missed.
        """
        async with self.docket.engine.subscribe(self.key) as changes:
            if ready is not None:
                ready.set()
            async for change in changes:
                if isinstance(change, ProgressChange):
                    self.apply(change.progress, ExecutionState.RUNNING)
                    self.updated_at = self.docket.clock.now()
                    yield self.event()

    def __repr__(self) -> str:
        return (
            f"ExecutionProgress(key={self.key!r}, current={self.current}, "
            f"total={self.total}, message={self.message!r})"
        )
