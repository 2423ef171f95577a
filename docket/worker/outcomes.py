"""What a run hands on: its ``Outcome`` (for the settler to write) or ``SetAside``.

Running a delivery decides how it ended and returns that decision as a value;
it writes nothing and calls nothing back.  The settler (``settling.py``) is
the one writer of outcomes.  This module also holds the structured context
every log line about a run carries, and the cap on values those lines
quote, which running and settling share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docket.engines.base import SlotWait, TaskMessage
from docket.execution import Execution
from docket.states import ExecutionState

__all__ = [
    "LOG_VALUE_LIMIT",
    "Deferred",
    "Outcome",
    "RunResult",
    "SetAside",
    "capped",
    "log_context",
]

LOG_VALUE_LIMIT = 200
"""The most characters of one stored value (a reason, a key, arguments) a log line quotes."""


@dataclass(slots=True)
class Outcome:
    """How one run ended, to be written in one settlement.

    ``state`` is the end (COMPLETED, FAILED, CANCELLED), or QUEUED when
    ``reschedule`` is the key's next run (a retry, a perpetual's next run,
    work admission control sent back; ``wait_for`` parks it at a
    concurrency gate).  ``result`` is the encoded value or exception to keep;
    ``error`` the recorded error text; ``exception`` what the body raised, for
    observers.  ``cancelled`` marks a run ``Docket.cancel`` ended: its record
    already says so, and this only acknowledges the delivery.
    """

    execution: Execution
    state: ExecutionState
    result: bytes | None = None
    error: str | None = None
    reschedule: TaskMessage | None = None
    exception: BaseException | None = None
    wait_for: SlotWait | None = None
    cancelled: bool = False


@dataclass(slots=True)
class SetAside:
    """A delivery that cannot run (malformed, unknown task, too often delivered):
    it is kept as a dead letter for ``reason``."""

    reason: str


@dataclass(slots=True)
class Deferred:
    """A delivery that cannot run here yet (its task is unknown to this worker):
    ``message`` puts the same execution back on the queue for later."""

    message: TaskMessage


RunResult = Outcome | SetAside | Deferred | None
"""What running one delivery returns; None when nothing is to be written: an
admission gate took the run over entirely (``AdmissionBlocked(handled=True)``),
or a suspect's run could not be counted and did not start (its lease lapses)."""


def log_context(execution: Execution, worker: str) -> dict[str, Any]:
    """The structured context a run's log records carry, as TaskLogger's do."""
    return {
        "docket.name": execution.docket.name,
        "docket.worker": worker,
        "docket.task": execution.function_name,
        "docket.key": execution.key,
        "docket.attempt": execution.attempt,
    }


def capped(value: object, limit: int = LOG_VALUE_LIMIT) -> str:
    """``value``'s text (``repr`` unless it is a string), cut to ``limit`` characters with "…".

    A log line quotes what storage holds, which may be huge; the dead letter
    keeps the whole of it.
    """
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
