"""Dependencies that hand a task the objects around its run.

The worker sets these context variables for each run; the dependencies read
them, so a task can ask for its docket, worker, execution or key.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, cast

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

current_docket: ContextVar[Docket] = ContextVar("current_docket")
current_worker: ContextVar[Worker] = ContextVar("current_worker")
current_execution: ContextVar[Execution] = ContextVar("current_execution")


# pydocket publishes these context variables on the Dependency class itself
# too, and its clients read them there (``Dependency.execution.get()``).
# Dependency is uncalled-for's, shared with pydocket, which sets the same.
Dependency.execution = current_execution  # type: ignore[attr-defined]
Dependency.docket = current_docket  # type: ignore[attr-defined]
Dependency.worker = current_worker  # type: ignore[attr-defined]


class _CurrentDocket(Dependency["Docket"]):
    """The Docket whose worker is running this task."""

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    async def __aenter__(self) -> Docket:
        return current_docket.get()


class _CurrentWorker(Dependency["Worker"]):
    """The Worker running this task."""

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    async def __aenter__(self) -> Worker:
        return current_worker.get()


class _CurrentExecution(Dependency["Execution"]):
    """The Execution being run."""

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    async def __aenter__(self) -> Execution:
        return current_execution.get()


class _TaskKey(Dependency[str]):
    """The key of the Execution being run."""

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    async def __aenter__(self) -> str:
        return current_execution.get().key


def CurrentDocket() -> Docket:
    """The Docket whose worker is running this task.

    Declared as a parameter default; typed as the injected value so that
    ``x: Docket = CurrentDocket()`` type-checks.
    """
    return cast("Docket", _CurrentDocket())


def CurrentWorker() -> Worker:
    """The Worker running this task.

    Declared as a parameter default; typed as the injected value so that
    ``x: Worker = CurrentWorker()`` type-checks.
    """
    return cast("Worker", _CurrentWorker())


def CurrentExecution() -> Execution:
    """The Execution being run.

    Declared as a parameter default; typed as the injected value so that
    ``x: Execution = CurrentExecution()`` type-checks.
    """
    return cast("Execution", _CurrentExecution())


def TaskKey() -> str:
    """The key of the Execution being run.

    Declared as a parameter default; typed as the injected value so that
    ``x: str = TaskKey()`` type-checks.
    """
    return cast("str", _TaskKey())
