"""What the flow-control dependencies share: which gate a run goes through.

A flow-control dependency (``Cooldown``, ``RateLimit``, ``Debounce``) guards
a *gate* kept by the engine.  Declared as a parameter default it guards the
task: one gate per task name.  Declared as ``Annotated`` metadata on a task
argument it guards that argument's value: one gate per parameter name and
value, shared by every task that takes that argument, so that
``customer_id: Annotated[int, Cooldown(...)]`` on two tasks cools down each
customer across both.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from docket.dependencies.base import AdmissionBlocked, Dependency
from docket.dependencies.context import current_docket, current_execution

if TYPE_CHECKING:
    from typing_extensions import Self

    from docket.docket import Docket
    from docket.execution import Execution

__all__ = ["Gated", "WindowGated", "check_positive_duration", "check_scope"]

SMALLEST_RETRY_DELAY = timedelta(milliseconds=1)
"""A blocked run is never retried sooner than this after now."""


def check_scope(scope: object) -> str | None:
    """``scope`` if it is None or a non-empty string; else an error naming it."""
    if scope is not None and (not isinstance(scope, str) or not scope):
        raise ValueError(f"scope must be a non-empty string or None, got {scope!r}")
    return scope


def check_positive_duration(name: str, value: object) -> timedelta:
    """``value`` if it is a positive timedelta; else an error naming ``name`` and the value."""
    if not isinstance(value, timedelta):
        raise TypeError(f"{name} must be a timedelta, got {value!r}")
    if value <= timedelta(0):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return value


class Gated(Dependency[Any]):
    """A dependency that lets runs through an engine-kept gate.

    The declared object is shared by every run; ``for_parameter`` and
    ``bind_to_parameter`` return a per-run copy that knows its gate.
    """

    kind: ClassVar[str]
    """The gate family, part of every gate name (``cooldown``, ``ratelimit``...)."""

    scope: str | None = None
    """Names a group of gates apart from the default one: dependencies with
    different scopes never share a gate, those with the same scope do."""

    _argument: tuple[str, Any] | None = None

    def for_parameter(self, name: str) -> Self:
        """A per-run copy guarding the task."""
        run = copy.copy(self)
        run._argument = None
        return run

    def bind_to_parameter(self, name: str, value: Any) -> Self:
        """A per-run copy guarding the value ``value`` of argument ``name``."""
        run = copy.copy(self)
        run._argument = (name, value)
        return run

    def gate(self, execution: Execution) -> str:
        """The name of the gate this run goes through."""
        if self._argument is None:
            return self.scoped(f"{self.kind}:task:{execution.function_name}")
        name, value = self._argument
        return self.scoped(f"{self.kind}:argument:{name}:{value}")

    def scoped(self, gate: str) -> str:
        """``gate`` within this dependency's ``scope``, if it has one."""
        return gate if self.scope is None else f"scope:{self.scope}:{gate}"

    @staticmethod
    def running() -> tuple[Docket, Execution, datetime]:
        """The docket and execution of the run being resolved, and the docket clock's now."""
        docket = current_docket.get()
        return docket, current_execution.get(), docket.clock.now()

    @staticmethod
    def retry_delay(until: datetime, now: datetime) -> timedelta:
        """How long a blocked run waits before it is tried again at ``until``."""
        return max(until - now, SMALLEST_RETRY_DELAY)


class WindowGated(Gated):
    """A gate counting runs in a sliding window (``Cooldown``, ``RateLimit``).

    ``admit`` lets this run through or returns when to try again; a run let
    through and then blocked by a later dependency gives its place back.
    """

    _holder: str | None = None

    async def admit(
        self, window: timedelta, limit: int
    ) -> tuple[Execution, datetime, datetime | None]:
        """Ask the engine; return the execution, now, and None if let through else when to retry."""
        docket, execution, now = self.running()
        holder = f"{execution.key}:{execution.generation}"
        until = await docket.engine.admit(self.gate(execution), holder, now, window, limit)
        if until is None:
            self._holder = holder
        return execution, now, until

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, AdmissionBlocked) and self._holder is not None:
            docket, execution, _ = self.running()
            await docket.engine.withdraw(self.gate(execution), self._holder)
