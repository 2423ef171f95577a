"""``RateLimit``: at most ``limit`` runs per sliding window, per task or per argument value."""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType
from typing import Any

from docket.dependencies.base import AdmissionBlocked
from docket.dependencies.gates import Gated, check_positive_duration

__all__ = ["RateLimit"]


class RateLimit(Gated):
    """Let at most ``limit`` runs through the same gate in any window of length ``per``.

    A run over the limit is tried again when the earliest run in the window
    leaves it (or, with ``drop=True``, ends CANCELLED).  As a parameter
    default it limits the task; as ``Annotated`` metadata on an argument it
    limits each value of that argument, across every task taking it.  Windows
    are measured on the docket's clock.  A redelivered run is not counted
    twice, and a run that is let through but then blocked by another
    dependency gives its place back.
    """

    kind = "ratelimit"

    def __init__(self, limit: int, *, per: timedelta, drop: bool = False) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise TypeError(f"limit must be an int, got {limit!r}")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        if not isinstance(drop, bool):
            raise TypeError(f"drop must be a bool, got {drop!r}")
        self.limit = limit
        self.per = check_positive_duration("per", per)
        self.drop = drop
        self._holder: str | None = None

    def __repr__(self) -> str:
        return f"RateLimit({self.limit}, per={self.per!r}, drop={self.drop})"

    async def __aenter__(self) -> Any:
        docket, execution, now = self.running()
        gate = self.gate(execution)
        holder = f"{execution.key}:{execution.generation}"
        until = await docket.engine.admit(gate, holder, now, self.per, self.limit)
        if until is not None:
            reason = f"rate limited: {gate} ran {self.limit} times within {self.per}"
            if self.drop:
                raise AdmissionBlocked(execution, reason, reschedule=False)
            raise AdmissionBlocked(execution, reason, retry_delay=self.retry_delay(until, now))
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
