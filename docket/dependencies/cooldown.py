"""``Cooldown``: run a task, or a task per argument value, at most once per window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from docket.dependencies.base import AdmissionBlocked
from docket.dependencies.gates import WindowGated, check_positive_duration, check_scope

__all__ = ["Cooldown"]


class Cooldown(WindowGated):
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

    def __init__(self, window: timedelta, *, scope: str | None = None) -> None:
        self.window = check_positive_duration("window", window)
        self.scope = check_scope(scope)

    def __repr__(self) -> str:
        return f"Cooldown({self.window!r}, scope={self.scope!r})"

    async def __aenter__(self) -> Any:
        execution, _, until = await self.admit(self.window, 1)
        if until is not None:
            raise AdmissionBlocked(
                execution,
                f"cooling down: {self.gate(execution)} ran within {self.window}",
                reschedule=False,
            )
        return self
