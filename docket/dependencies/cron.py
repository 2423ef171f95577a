"""``Cron``: a perpetual task whose runs follow a cron expression.

This module owns parsing the expression (via ``cronsim``, plus the Vixie
``@daily``-style keywords) and finding the next matching time in a time zone,
daylight-saving transitions included.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from cronsim import CronSim, CronSimError

from docket.clock import SystemClock
from docket.dependencies.base import TaskOutcome
from docket.dependencies.context import current_docket
from docket.dependencies.perpetual import Perpetual, _aware

if TYPE_CHECKING:
    from docket.execution import Execution

__all__ = ["KEYWORDS", "Cron"]

KEYWORDS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""The Vixie cron keywords and the five-field expressions they stand for."""


def _now() -> datetime:
    """Now on the running task's docket clock, else on the system clock."""
    try:
        return current_docket.get().clock.now()
    except LookupError:
        return SystemClock().now()


class Cron(Perpetual):
    """Run the task at every time ``expression`` matches, in the zone ``tz``.

    ``expression`` is a five-field cron expression (``"30 2 * * *"``), a
    six-field one with seconds first (as ``cronsim`` reads it), or one of
    ``@yearly @annually @monthly @weekly @daily @midnight @hourly``.

    Daylight saving follows ``cronsim``, which mimics Debian cron: a job at a
    fixed local time that does not exist (spring forward) runs at the first
    valid minute after the gap, and one at a time that happens twice (fall
    back) runs once, at the first occurrence.  A job whose minute or hour
    field starts with ``*`` (``"0 * * * *"``) follows real elapsed time: it
    has 23 runs on a spring-forward day and 25 on a fall-back day.

    ``automatic`` defaults to True, so a worker seeds the task at the next
    match.  After each run the next one is the next match strictly after the
    run ended; missed matches (worker down) are skipped, not caught up.  A run
    may still call ``after()``/``at()`` to override that once, or ``cancel()``.
    """

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    def __init__(self, expression: str, automatic: bool = True, tz: tzinfo = timezone.utc) -> None:
        super().__init__(every=timedelta(0), automatic=automatic)
        if not isinstance(expression, str):
            raise TypeError(f"expression must be a string, got {expression!r}")
        if not isinstance(tz, tzinfo):
            raise TypeError(f"tz must be a tzinfo (e.g. ZoneInfo('Europe/Paris')), got {tz!r}")
        self.expression = expression
        self.tz = tz
        self._pattern = KEYWORDS.get(expression.strip().lower(), expression)
        try:
            # Parsing happens in the constructor; iteration is lazy.
            CronSim(self._pattern, datetime(2000, 1, 1, tzinfo=tz))
        except (CronSimError, ValueError, IndexError) as error:
            raise ValueError(
                f"expression is not a valid cron expression: {expression!r} ({error})"
            ) from None

    def next_time(self, *, after: datetime | None = None) -> datetime:
        """The first match strictly after the aware ``after``, as an aware UTC datetime.

        ``after`` defaults to now on the running task's docket clock (the
        system clock outside a task).  Raises ValueError if the expression
        never matches again (cronsim gives up after 50 years without a match).
        """
        if after is None:
            after = _now()
        after = _aware(after, "after").astimezone(timezone.utc)
        matches = CronSim(self._pattern, after.astimezone(self.tz))
        for match in matches:
            candidate = match.astimezone(timezone.utc)
            # cronsim resolves a fixed local time on a fall-back day to its
            # first occurrence, which can lie before ``after`` when ``after``
            # is in the repeated hour; that match has already been run.
            if candidate > after:
                return candidate
        raise ValueError(
            f"cron expression {self.expression!r} has no match after {after.isoformat()}"
        )

    @property
    def initial_when(self) -> datetime:
        """When an automatic seed first runs this task: the next match from now."""
        return self.next_time()

    def first_run_at(self, now: datetime) -> datetime:
        """When an automatic seed made at ``now`` first runs this task: the next match."""
        return self.next_time(after=now)

    async def on_complete(self, execution: Execution, outcome: TaskOutcome) -> bool:
        if not self.cancelled and self._next_when is None:
            self._next_when = self.next_time(after=execution.docket.clock.now())
        return await super().on_complete(execution, outcome)

    def __repr__(self) -> str:
        return f"Cron({self.expression!r}, automatic={self.automatic!r}, tz={self.tz!r})"
