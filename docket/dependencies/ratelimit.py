"""``RateLimit``: at most ``limit`` runs per sliding window, per task or per argument value."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from docket.dependencies.base import AdmissionBlocked
from docket.dependencies.gates import WindowGated, check_positive_duration, check_scope

__all__ = ["RateLimit"]


class RateLimit(WindowGated):
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

    def __init__(
        self, limit: int, *, per: timedelta, drop: bool = False, scope: str | None = None
    ) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise TypeError(f"limit must be an int, got {limit!r}")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        if not isinstance(drop, bool):
            raise TypeError(f"drop must be a bool, got {drop!r}")
        self.limit = limit
        self.per = check_positive_duration("per", per)
        self.drop = drop
        self.scope = check_scope(scope)

    def __repr__(self) -> str:
        return f"RateLimit({self.limit}, per={self.per!r}, drop={self.drop})"

    async def __aenter__(self) -> Any:
        execution, now, until = await self.admit(self.per, self.limit)
        if until is not None:
            reason = (
                f"rate limited: {self.gate(execution)} ran {self.limit} times within {self.per}"
            )
            if self.drop:
                raise AdmissionBlocked(execution, reason, reschedule=False)
            raise AdmissionBlocked(execution, reason, retry_delay=self.retry_delay(until, now))
        return self
