"""The vocabulary of an execution's life: its states and the outcome of scheduling it."""

from __future__ import annotations

import enum

__all__ = ["ExecutionState", "Disposition", "LIVE_STATES", "TERMINAL_STATES"]


class ExecutionState(str, enum.Enum):
    """Where an execution is in its life.

    ``SCHEDULED -> QUEUED -> RUNNING -> COMPLETED | FAILED``; any state
    before the end may also end ``CANCELLED``.
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
    """What scheduling did with the work it was given.

    ``LOADED``: not a fresh scheduling attempt (an execution read back from
    storage).  ``SCHEDULED``: stored, queued or for later.
    ``ALREADY_SCHEDULED``: ``add`` found the key live and changed nothing.
    ``STRUCK``: a strike refused it before anything was stored.
    ``SUPERSEDED``: a newer schedule of the key was already in place.
    ``FAILED``: in a batch (``add_many``/``replace_many``), storing this one
    call failed; the error is the execution's ``schedule_exception``.
    """

    LOADED = "loaded"
    SCHEDULED = "scheduled"
    ALREADY_SCHEDULED = "already_scheduled"
    STRUCK = "struck"
    SUPERSEDED = "superseded"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


LIVE_STATES = frozenset({ExecutionState.SCHEDULED, ExecutionState.QUEUED, ExecutionState.RUNNING})
TERMINAL_STATES = frozenset(
    {ExecutionState.COMPLETED, ExecutionState.FAILED, ExecutionState.CANCELLED}
)
