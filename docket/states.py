"""The vocabulary of an execution's life: its states and the outcome of scheduling it."""

from __future__ import annotations

import enum

__all__ = ["ExecutionState", "Disposition", "LIVE_STATES", "TERMINAL_STATES"]


class ExecutionState(str, enum.Enum):
    """Where an execution is in its life.

    ``SCHEDULED -> QUEUED -> RUNNING -> COMPLETED | FAILED``; any state before
    ``RUNNING`` may also end ``CANCELLED``.
    """

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def is_live(self) -> bool:
        """True while the key is taken: scheduled, queued or running."""
        return self in LIVE_STATES

    @property
    def is_terminal(self) -> bool:
        """True once the execution has ended: completed, failed or cancelled."""
        return self in TERMINAL_STATES


class Disposition(str, enum.Enum):
    """What ``Docket.add`` or ``Docket.replace`` did with the work it was given."""

    SCHEDULED = "scheduled"
    ALREADY_SCHEDULED = "already_scheduled"
    STRUCK = "struck"

    def __str__(self) -> str:
        return self.value


LIVE_STATES = frozenset({ExecutionState.SCHEDULED, ExecutionState.QUEUED, ExecutionState.RUNNING})
TERMINAL_STATES = frozenset(
    {ExecutionState.COMPLETED, ExecutionState.FAILED, ExecutionState.CANCELLED}
)
