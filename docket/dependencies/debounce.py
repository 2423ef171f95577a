"""``Debounce``: run once calls have stopped arriving for a while."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from docket.dependencies.base import AdmissionBlocked
from docket.dependencies.gates import Gated, check_positive_duration, check_scope

__all__ = ["Debounce"]


class Debounce(Gated):
    """Collapse a burst of calls into one run, once no call has come for ``settle``.

    The first call of a burst holds the gate: it waits (rescheduled) until
    ``settle`` has passed since the latest call, then runs with its own
    arguments.  Every other call arriving meanwhile ends CANCELLED and
    restarts the quiet period.  After the run the gate opens for a new burst.
    As a parameter default it debounces the task; as ``Annotated`` metadata
    on an argument it debounces each value of that argument, across every
    task taking it.  Time is the docket's clock.  At most one per task.
    """

    kind = "debounce"
    single = True

    def __init__(self, settle: timedelta, *, scope: str | None = None) -> None:
        self.settle = check_positive_duration("settle", settle)
        self.scope = check_scope(scope)

    def __repr__(self) -> str:
        return f"Debounce({self.settle!r})"

    async def __aenter__(self) -> Any:
        docket, execution, now = self.running()
        gate = self.gate(execution)
        decided = await docket.engine.debounce(gate, execution.key, now, self.settle)
        if decided.verdict == "drop":
            raise AdmissionBlocked(
                execution, f"debounced: {gate} has an earlier call waiting", reschedule=False
            )
        if decided.verdict == "wait":
            assert decided.until is not None
            raise AdmissionBlocked(
                execution,
                f"debouncing: {gate} waits for calls to settle",
                retry_delay=self.retry_delay(decided.until, now),
            )
        return self
