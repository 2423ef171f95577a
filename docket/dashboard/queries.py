"""The dashboard's view-model: what one look at a docket (or one execution) finds.

``Queries.overview`` reads the snapshot, the live workers, the dead letters
and the strikes in force through ``Docket``'s public API and shapes them
into an ``Overview`` for the renderer; ``Queries.execution`` does the same
for one key.  The ``History`` of endings is fed from here, one snapshot at
a time, under a lock so concurrent pages do not read a key's ending twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from docket.dashboard.history import Ending, History
from docket.docket import Docket, RunningExecution
from docket.engines.base import DeadLetter
from docket.execution import Execution
from docket.states import ExecutionState
from docket.strike_rules import StrikeRule, rule_id

__all__ = [
    "ExecutionView",
    "Overview",
    "Queries",
    "StrikeRow",
    "TaskRow",
    "WorkerRow",
    "strike_row_id",
]

DEAD_LETTERS_SHOWN = 100
"""How many of the latest dead letters the overview lists."""


@dataclass(frozen=True)
class WorkerRow:
    """A live worker: ``late`` when its last heartbeat is older than two intervals."""

    name: str
    last_seen: datetime
    late: bool
    running: int
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class TaskRow:
    """One task's work now (scheduled, queued, running) and its endings seen per minute."""

    name: str
    scheduled: int
    queued: int
    running: int
    completed_per_minute: float
    failed_per_minute: float
    cancelled_per_minute: float


@dataclass(frozen=True)
class StrikeRow:
    """A strike in force, with the id a restore form names it by."""

    id: str
    rule: StrikeRule


@dataclass(frozen=True)
class Overview:
    """Everything the dashboard's main page shows, read at ``taken``."""

    name: str
    taken: datetime
    since: datetime
    workers: list[WorkerRow]
    counts: dict[str, int]
    tasks: list[TaskRow]
    future: list[Execution]
    running: list[RunningExecution]
    retrying: list[Execution]
    failures: list[Ending]
    dead_letters: list[DeadLetter]
    strikes: list[StrikeRow]


@dataclass(frozen=True)
class ExecutionView:
    """One key's record as read at ``taken`` (None when there is none), and its dead letters."""

    key: str
    taken: datetime
    execution: Execution | None
    dead_letters: list[DeadLetter]


def strike_row_id(rule: StrikeRule) -> str:
    """A short id for ``rule`` that is safe in a form field (docket's rule id has separators)."""
    return hashlib.sha256(rule_id(rule).encode("utf-8")).hexdigest()[:24]


class Queries:
    """Reads a docket for the dashboard, remembering endings between looks."""

    def __init__(self) -> None:
        self.history = History()
        self._lock = asyncio.Lock()
        self._last: tuple[float, Overview] | None = None

    async def overview(self, docket: Docket, max_age: float = 0.0) -> Overview:
        """One look at everything the main page shows.

        A look taken less than ``max_age`` seconds ago (on the docket's clock)
        is reused, so many open pages cost one look per interval, not one each.
        """
        async with self._lock:
            if self._last is not None and docket.clock.monotonic() - self._last[0] < max_age:
                return self._last[1]
            overview = await self._look(docket)
            self._last = (docket.clock.monotonic(), overview)
            return overview

    async def _look(self, docket: Docket) -> Overview:
        snapshot = await docket.snapshot()
        await self.history.observe(docket, snapshot)
        letters = await docket.dead_letters(DEAD_LETTERS_SHOWN)
        now = snapshot.taken
        late_after = docket.heartbeat_interval * 2
        on_worker = Counter(r.worker for r in snapshot.running)
        workers = [
            WorkerRow(
                name=w.name,
                last_seen=w.last_seen,
                late=now - w.last_seen > late_after,
                running=on_worker[w.name],
                tasks=tuple(sorted(w.tasks)),
            )
            for w in sorted(snapshot.workers, key=lambda w: w.name)
        ]
        by_state = Counter(e.state for e in snapshot.future)
        counts = {
            "scheduled": by_state[ExecutionState.SCHEDULED],
            "queued": by_state[ExecutionState.QUEUED],
            "running": len(snapshot.running),
            "workers": len(workers),
            "dead letters": len(letters),
            "strikes": len(docket.strike_list.rules.rules),
        }
        strikes = sorted(
            (StrikeRow(strike_row_id(rule), rule) for rule in docket.strike_list.rules.rules),
            key=lambda row: (row.rule.function or "", row.rule.parameter or "", row.id),
        )
        return Overview(
            name=docket.name,
            taken=now,
            since=self.history.since or now,
            workers=workers,
            counts=counts,
            tasks=self._tasks(snapshot.future, snapshot.running, now),
            future=snapshot.future,
            running=snapshot.running,
            retrying=[e for e in snapshot.future if e.attempt > 1],
            failures=self.history.failures(),
            dead_letters=list(reversed(letters)),
            strikes=strikes,
        )

    def _tasks(
        self, future: list[Execution], running: list[RunningExecution], now: datetime
    ) -> list[TaskRow]:
        live = Counter((e.function_name, e.state) for e in [*future, *running])
        rates = self.history.rates(now)
        names = {name for name, _ in live} | {name for name, _ in rates}
        return [
            TaskRow(
                name=name,
                scheduled=live[(name, ExecutionState.SCHEDULED)],
                queued=live[(name, ExecutionState.QUEUED)],
                running=live[(name, ExecutionState.RUNNING)],
                completed_per_minute=rates.get((name, ExecutionState.COMPLETED), 0.0),
                failed_per_minute=rates.get((name, ExecutionState.FAILED), 0.0),
                cancelled_per_minute=rates.get((name, ExecutionState.CANCELLED), 0.0),
            )
            for name in sorted(names)
        ]

    async def execution(self, docket: Docket, key: str) -> ExecutionView:
        """The record under ``key`` with its progress, and any dead letters of that key."""
        execution = await docket.get_execution(key)
        letters = [
            letter for letter in await docket.dead_letters(DEAD_LETTERS_SHOWN) if letter.key == key
        ]
        return ExecutionView(
            key=key, taken=docket.clock.now(), execution=execution, dead_letters=letters
        )
