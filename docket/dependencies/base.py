"""The base classes of task dependencies, and what a run's outcome looks like.

A dependency is declared as a parameter default (``retry: Retry = Retry(3)``).
For each run the worker enters it as an async context manager and passes what
``__aenter__`` returns as that argument.  The declared default is shared by
every run of the task, so ``__aenter__`` must return a fresh per-run value and
never store run state on ``self``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from docket.engines.base import SlotWait
    from docket.execution import Execution

__all__ = [
    "AdmissionBlocked",
    "CompletionHandler",
    "Dependency",
    "FailureHandler",
    "Runtime",
    "TaskOutcome",
]


class Dependency:
    """Something the worker resolves for each run of a task.

    ``single`` dependencies may appear at most once per task (counting the
    worker's own ``dependencies=``); a second one of the same kind is an error
    when the task is registered.
    """

    single: ClassVar[bool] = False

    def for_parameter(self, name: str) -> Dependency:
        """The dependency to enter for parameter ``name`` (by default, itself)."""
        return self

    def bind_to_parameter(self, name: str, value: Any) -> Dependency:
        """The dependency to enter for an ``Annotated`` parameter carrying ``value``."""
        return self

    def check_task(self, function: Callable[..., Any]) -> None:
        """Raise ValueError if this dependency cannot work on ``function``.

        Called when a task declaring it is registered, so that a mistake is
        reported by the call that made it rather than by every run.
        """

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


@dataclass
class TaskOutcome:
    """How one run ended, as failure and completion handlers see it.

    A failure handler that wants the key retried sets ``retry_at`` (the retry
    is the next attempt, with the same arguments) and returns True.  A
    completion handler that wants the key run again sets ``next_run_at`` and,
    optionally, ``next_arguments`` (``(args, kwargs)`` for that run, which
    starts again at attempt 1).  A completion handler that sets ``cancelled``
    after a successful run has it recorded CANCELLED instead of COMPLETED (a
    perpetual task that stopped itself); nothing is rescheduled.
    """

    duration: timedelta
    result: Any = None
    exception: BaseException | None = None
    retry_at: datetime | None = field(default=None)
    next_run_at: datetime | None = field(default=None)
    next_arguments: tuple[tuple[Any, ...], dict[str, Any]] | None = field(default=None)
    cancelled: bool = False


class FailureHandler(Dependency):
    """A dependency consulted when a run raises."""

    async def handle_failure(self, execution: Execution, outcome: TaskOutcome) -> bool:
        """Return True if the failure was handled (e.g. a retry was arranged)."""
        return False


class CompletionHandler(Dependency):
    """A dependency consulted after a run ends, on success or final failure."""

    async def on_complete(self, execution: Execution, outcome: TaskOutcome) -> bool:
        """Return True if the completion was handled (e.g. the next run arranged)."""
        return False


class Runtime(Dependency):
    """A dependency that wraps how the task's body is awaited (e.g. a timeout)."""

    single = True

    async def run(
        self,
        execution: Execution,
        function: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Await ``function(*args, **kwargs)`` under this runtime's rules."""
        return await function(*args, **kwargs)


class AdmissionBlocked(Exception):
    """Raised while resolving a dependency to keep a run from starting now.

    With ``reschedule`` the work is tried again after ``retry_delay``;
    otherwise it ends CANCELLED.  ``wait_for``, when set (by
    ``ConcurrencyBlocked``), parks the rescheduled work at a concurrency gate
    until a slot is given back, with ``retry_delay`` as the fallback.
    """

    wait_for: SlotWait | None = None

    def __init__(
        self,
        execution: Execution,
        reason: str = "admission control",
        *,
        handled: bool = False,
        reschedule: bool = True,
        retry_delay: timedelta | None = None,
    ) -> None:
        super().__init__(f"{execution.key}: {reason}")
        self.execution = execution
        self.reason = reason
        self.handled = handled
        self.reschedule = reschedule
        self.retry_delay = retry_delay
