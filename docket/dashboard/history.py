"""What the dashboard has seen end: recent failures and the rates of endings by state and task.

A docket keeps no list of finished work, only each key's record for
``execution_ttl``.  So the dashboard remembers the keys it saw scheduled,
queued or running; when one leaves the snapshot it reads that key's record
(``Docket.get_execution``) and notes how it ended.  Work that is added and
finished between two looks is not seen: the page says these figures are
what this dashboard observed since it started.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from docket.docket import Docket, DocketSnapshot
from docket.states import ExecutionState

__all__ = ["Ending", "History", "RATE_WINDOW"]

RATE_WINDOW = timedelta(minutes=5)
"""How far back the rates per minute look."""

MAX_ENDINGS = 1000
"""How many endings are remembered (the oldest are forgotten first)."""

MAX_LOOKUPS = 200
"""How many vanished keys one refresh reads, so a burst of endings cannot stall a page."""


@dataclass(frozen=True)
class Ending:
    """One execution seen to end: its key, task, final state, when, and its error if any."""

    key: str
    function_name: str
    state: ExecutionState
    at: datetime
    error: str | None
    attempt: int


class History:
    """The keys last seen live, and the endings noticed since the dashboard started."""

    def __init__(self) -> None:
        self._live: dict[str, str] = {}
        self._endings: deque[Ending] = deque(maxlen=MAX_ENDINGS)
        self.since: datetime | None = None

    async def observe(self, docket: Docket, snapshot: DocketSnapshot) -> None:
        """Compare ``snapshot`` with the last one and record how vanished keys ended."""
        if self.since is None:
            self.since = snapshot.taken
        live = {e.key: e.function_name for e in [*snapshot.future, *snapshot.running]}
        vanished = [key for key in self._live if key not in live]
        unread = vanished[MAX_LOOKUPS:]
        for key in vanished[:MAX_LOOKUPS]:
            execution = await docket.get_execution(key)
            if execution is None or not execution.state.is_terminal:
                # Expired already (execution_ttl of zero), or live under a newer
                # schedule that the snapshot missed: nothing to say about it.
                continue
            self._endings.append(
                Ending(
                    key=key,
                    function_name=execution.function_name,
                    state=execution.state,
                    at=execution.completed_at or snapshot.taken,
                    error=execution.error,
                    attempt=execution.attempt,
                )
            )
        # Keys not read this time stay remembered, to be read on the next refresh.
        self._live = live | {key: self._live[key] for key in unread}

    def failures(self, limit: int = 50) -> list[Ending]:
        """The latest failures seen, newest first."""
        found = [e for e in self._endings if e.state is ExecutionState.FAILED]
        return list(reversed(found))[:limit]

    def rates(self, now: datetime) -> dict[tuple[str, ExecutionState], float]:
        """Endings per minute over the last ``RATE_WINDOW``, by task and final state."""
        start = now - RATE_WINDOW
        counted = Counter((e.function_name, e.state) for e in self._endings if e.at >= start)
        minutes = RATE_WINDOW.total_seconds() / 60
        if self.since is not None and self.since > start:
            # A dashboard up for less than the window divides by its own age, but
            # by at least a minute, so its first few endings do not read as a flood.
            minutes = max((now - self.since).total_seconds() / 60, 1.0)
        return {pair: count / minutes for pair, count in counted.items()}
