"""``Cooldown``: run a task, or a task per argument value, at most once per window."""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType
from typing import Any

from docket.dependencies.base import AdmissionBlocked
from docket.dependencies.gates import Gated, check_positive_duration

__all__ = ["Cooldown"]


class Cooldown(Gated):
    """Drop a run that comes within ``window`` of the last run through the same gate.

    As a parameter default (``cooldown: Cooldown = Cooldown(timedelta(minutes=5))``)
    it cools the task down; as ``Annotated`` metadata on an argument
    (``user: Annotated[int, Cooldown(timedelta(minutes=5))]``) it cools each
    value of that argument down, across every task taking it.  A dropped run
    ends CANCELLED.  The window starts when a run is let through, on the
    docket's clock; a run that is let through but then blocked by another
    dependency does not use the window up.
    """

    kind = "cooldown"

    def __init__(self, window: timedelta) -> None:
        self.window = check_positive_duration("window", window)
        self._holder: str | None = None

    def __repr__(self) -> str:
        return f"Cooldown({self.window!r})"

    async def __aenter__(self) -> Any:
        docket, execution, now = self.running()
        gate = self.gate(execution)
        holder = f"{execution.key}:{execution.generation}"
        if await docket.engine.admit(gate, holder, now, self.window, 1) is not None:
            raise AdmissionBlocked(
                execution, f"cooling down: {gate} ran within {self.window}", reschedule=False
            )
        self._holder = holder
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, AdmissionBlocked) and self._holder is not None:
            docket, execution, _ = self.running()
            await docket.engine.withdraw(self.gate(execution), self._holder)
