"""Every exception docket defines, in one place."""

from __future__ import annotations

__all__ = [
    "DocketError",
    "ExecutionCancelled",
    "ExecutionExpired",
    "ExecutionFailed",
    "UnknownTaskError",
]


class DocketError(Exception):
    """Base class of docket's own exceptions."""


class ExecutionCancelled(DocketError):
    """Raised by ``Execution.get_result`` for work that was cancelled."""


class ExecutionFailed(DocketError):
    """Raised by ``Execution.get_result`` when a task failed and its own
    exception was not kept (it could not be serialized, or records expire at
    once because ``execution_ttl`` is zero)."""


class ExecutionExpired(DocketError):
    """Raised by ``Execution.get_result`` when the execution's record is gone:
    it ended and ``execution_ttl`` has passed, so its outcome is no longer known."""


class UnknownTaskError(KeyError, DocketError):
    """A task was named that this docket has not registered."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a sentence reads better unquoted.
        return str(self.args[0]) if self.args else ""
