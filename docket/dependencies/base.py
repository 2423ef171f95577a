"""The base classes of task dependencies, and what a run's outcome looks like.

``Dependency`` is ``uncalled_for.Dependency`` itself, the class pydocket and its
clients (fastmcp's ``Depends`` and ``CurrentContext``) build on, so their
dependencies resolve here unchanged.  A dependency is declared as a parameter
default (``retry: Retry = Retry(3)``) or as ``Annotated`` metadata; for each run
the worker enters it as an async context manager and passes what
``__aenter__`` returns as that argument.  The declared default is shared by
every run of the task, so ``__aenter__`` returns a fresh per-run value and
never keeps run state on ``self``.

The three kinds the worker consults, each at most one per task
(``single``): a ``Runtime`` wraps how the body is awaited, a
``FailureHandler`` decides about a run that raised, a ``CompletionHandler``
about a run that ended.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from uncalled_for import Dependency

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
    "format_duration",
    "run_copy",
]

T = TypeVar("T", covariant=True)


D = TypeVar("D")


def run_copy(declared: D) -> D:
    """A shallow copy of a declared dependency, to carry one run's state.

    What ``copy.copy`` gives an object that keeps its state in ``__dict__``
    (every dependency class here), without the copy protocol's lookups,
    which cost more than the copy on a path taken by every run.
    """
    run = object.__new__(type(declared))
    run.__dict__.update(declared.__dict__)
    return run


def format_duration(seconds: float) -> str:
    """A fixed-width duration for log lines: milliseconds under 100 s, else seconds."""
    if abs(seconds) < 100:
        return f"{seconds * 1000:6.0f}ms"
    return f"{seconds:6.0f}s "


@dataclass
class TaskOutcome:
    """How one run ended, as failure and completion handlers see it.

    ``duration``, ``result`` and ``exception`` are pydocket's fields.  The
    rest is how handlers tell the worker what to do, so that the worker, the
    one writer of outcomes, applies it atomically with ending the run: a
    failure handler that wants the key retried sets ``retry_at`` (the next
    attempt, same arguments) and returns True; a completion handler that wants
    the key run again sets ``next_run_at`` and, optionally, ``next_arguments``
    (``(args, kwargs)``, starting again at attempt 1).  A completion handler
    that sets ``cancelled`` after a successful run has it recorded CANCELLED
    instead of COMPLETED (a perpetual task that stopped itself).
    """

    duration: timedelta
    result: Any = None
    exception: BaseException | None = None
    _: KW_ONLY
    retry_at: datetime | None = None
    next_run_at: datetime | None = None
    next_arguments: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    cancelled: bool = False


class Runtime(Dependency[T]):
    """A dependency that controls how the task's body is awaited (e.g. a timeout)."""

    single = True

    @abc.abstractmethod
    async def run(
        self,
        execution: Execution,
        function: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Await ``function(*args, **kwargs)`` under this runtime's rules."""


class FailureHandler(Dependency[T]):
    """A dependency consulted when a run raises."""

    single = True

    @abc.abstractmethod
    async def handle_failure(self, execution: Execution, outcome: TaskOutcome) -> bool:
        """Return True if the failure was handled (e.g. a retry was arranged)."""


class CompletionHandler(Dependency[T]):
    """A dependency consulted after a run ends, on success or final failure."""

    single = True

    @abc.abstractmethod
    async def on_complete(self, execution: Execution, outcome: TaskOutcome) -> bool:
        """Return True if the completion was handled (e.g. the next run arranged)."""


class AdmissionBlocked(Exception):
    """Raised while resolving a dependency to keep a run from starting now.

    With ``handled`` the worker does nothing more (the gate already dealt with
    the run).  Otherwise, with ``reschedule`` the work is tried again after
    ``retry_delay`` (100 ms when None), and without it the run ends
    CANCELLED.  ``wait_for``, when set (by ``ConcurrencyBlocked``), parks the
    rescheduled work at a concurrency gate until a slot is given back, with
    ``retry_delay`` as the fallback.
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
        super().__init__(f"Task {execution.key} blocked by {reason}")
        self.execution = execution
        self.reason = reason
        self.handled = handled
        self.reschedule = reschedule
        self.retry_delay = retry_delay
