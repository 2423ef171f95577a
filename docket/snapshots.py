"""What a docket holds at one moment: ``DocketSnapshot`` and ``RunningExecution``.

``Docket.snapshot()`` reads every scheduled, queued and running execution and
the live workers in one engine call; this module turns what the engine read
into the snapshot pydocket's users know.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from docket.engines.base import WorkerInfo
from docket.execution import Execution

if TYPE_CHECKING:
    from docket.docket import Docket

__all__ = ["DocketSnapshot", "RunningExecution", "WorkerInfo", "take_snapshot"]


class RunningExecution(Execution):
    """An execution a worker has claimed: ``worker`` runs it since ``started``."""

    def __init__(self, execution: Execution, worker: str, started: datetime) -> None:
        super().__init__(
            execution.docket,
            execution.function,
            execution.args,
            execution.kwargs,
            execution.key,
            execution.when,
            execution.attempt,
            redelivered=execution.redelivered,
            function_name=execution.function_name,
            generation=execution.generation,
            message_id=execution.message_id,
            state=execution.state,
            disposition=execution.disposition,
            headers=execution.headers,
        )
        self.started_at = execution.started_at
        self.completed_at = execution.completed_at
        self.error = execution.error
        self.progress = execution.progress
        self.worker = worker
        self.started = started


@dataclass(frozen=True)
class DocketSnapshot:
    """Everything unfinished in a docket at the moment ``taken``.

    ``future`` holds scheduled and queued executions in due order,
    ``running`` the claimed ones, ``workers`` the live workers.
    """

    taken: datetime
    total_tasks: int
    future: list[Execution]
    running: list[RunningExecution]
    workers: list[WorkerInfo]


async def take_snapshot(docket: Docket) -> DocketSnapshot:
    """Read all future, queued and running work of ``docket`` and its live workers."""
    now = docket.clock.now()
    stored = await docket.engine.snapshot(now)
    future = [Execution.from_record(docket, r) for r in stored.queued + stored.future]
    future.sort(key=lambda e: (e.when, e.generation))
    running = []
    for record in stored.running:
        execution = Execution.from_record(docket, record)
        running.append(
            RunningExecution(execution, record.worker or "", record.started_at or record.when)
        )
    return DocketSnapshot(
        taken=now,
        total_tasks=len(future) + len(running),
        future=future,
        running=running,
        workers=stored.workers,
    )
