"""Dependencies that hand a task the objects around its run.

The worker sets these context variables for each run; the dependencies read
them, so a task can ask for its docket, worker, execution or key.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from docket.dependencies.base import Dependency

if TYPE_CHECKING:
    from docket.docket import Docket
    from docket.execution import Execution
    from docket.worker import Worker

__all__ = [
    "CurrentDocket",
    "CurrentExecution",
    "CurrentWorker",
    "TaskKey",
    "current_docket",
    "current_execution",
    "current_worker",
]

current_docket: ContextVar[Docket] = ContextVar("docket_current_docket")
current_worker: ContextVar[Worker] = ContextVar("docket_current_worker")
current_execution: ContextVar[Execution] = ContextVar("docket_current_execution")


class CurrentDocket(Dependency):
    """The Docket whose worker is running this task."""

    async def __aenter__(self) -> Any:
        return current_docket.get()


class CurrentWorker(Dependency):
    """The Worker running this task."""

    async def __aenter__(self) -> Any:
        return current_worker.get()


class CurrentExecution(Dependency):
    """The Execution being run."""

    async def __aenter__(self) -> Any:
        return current_execution.get()


class TaskKey(Dependency):
    """The key of the Execution being run."""

    async def __aenter__(self) -> Any:
        return current_execution.get().key
