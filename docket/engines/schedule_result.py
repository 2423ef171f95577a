"""``ScheduleResult``: what ``Engine.schedule`` reports, with its record built on demand.

Apart from the other values crossing the engine seam (``records.py``) because
it is not a plain dataclass: a batch of adds reads only each outcome's
generation and state, so the record an engine just stored from a message is
built only if someone reads it.
"""

from __future__ import annotations

from datetime import datetime

from docket.engines.records import RECORD_DEFAULTS, ExecutionRecord, TaskMessage
from docket.frozen import build_frozen
from docket.states import Disposition, ExecutionState

__all__ = ["ScheduleResult"]


class ScheduleResult:
    """The outcome of ``Engine.schedule``.

    ``record`` is the record now stored under the key: the new one when
    ``disposition`` is SCHEDULED, the live one that blocked it when it is
    ALREADY_SCHEDULED.  ``generation`` and ``state`` are that record's.

    Immutable by convention, like the dataclasses here.  A result made by
    ``stored`` builds its record only when ``record`` is first read: a batch
    of adds needs only each one's generation and state, and a record per add
    (seventeen fields, two objects for the cyclic collector to track) was a
    fifth of an ``add_many``'s client time.
    """

    __slots__ = ("disposition", "generation", "state", "_record", "_message", "_when")

    disposition: Disposition
    generation: int
    state: ExecutionState

    def __init__(self, disposition: Disposition, record: ExecutionRecord) -> None:
        self.disposition = disposition
        self.generation = record.generation
        self.state = record.state
        self._record: ExecutionRecord | None = record
        self._message: TaskMessage | None = None
        self._when: datetime | None = None

    @classmethod
    def stored(
        cls, message: TaskMessage, when: datetime, generation: int, state: ExecutionState
    ) -> ScheduleResult:
        """SCHEDULED: ``message`` stored as ``generation`` in ``state``, due at ``when``
        as storage reads it back; its record has the defaults of every other field."""
        result = object.__new__(cls)
        result.disposition = Disposition.SCHEDULED
        result.generation = generation
        result.state = state
        result._record = None
        result._message = message
        result._when = when
        return result

    @property
    def record(self) -> ExecutionRecord:
        """The record stored under the key (see the class docstring)."""
        record = self._record
        if record is None:
            message = self._message
            assert message is not None and self._when is not None
            record = build_frozen(
                ExecutionRecord,
                RECORD_DEFAULTS,
                key=message.key,
                function_name=message.function_name,
                payload=message.payload,
                when=self._when,
                attempt=message.attempt,
                headers=dict(message.headers),
                generation=self.generation,
                state=self.state,
            )
            self._record = record
        return record

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScheduleResult):
            return NotImplemented
        return self.disposition is other.disposition and self.record == other.record

    __hash__ = None  # type: ignore[assignment]  # equal by value, and unhashable like its record

    def __repr__(self) -> str:
        return f"ScheduleResult(disposition={self.disposition!r}, record={self.record!r})"
