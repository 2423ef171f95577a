"""The worker operations of the engine seam: heartbeats and the list of live workers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from docket.engines.records import WorkerInfo

__all__ = ["WorkerOperations"]


class WorkerOperations(Protocol):
    """Which workers are alive, as their heartbeats say."""

    async def heartbeat(
        self, worker: str, tasks: frozenset[str], now: datetime, dead_after: timedelta
    ) -> None:
        """Record that ``worker`` is alive and serves ``tasks``; forget workers
        last seen before ``now - dead_after``."""
        ...

    async def retire(self, worker: str) -> None:
        """Forget ``worker`` at once (it is shutting down)."""
        ...

    async def workers(self, now: datetime, dead_after: timedelta) -> list[WorkerInfo]:
        """Workers seen within ``dead_after`` of ``now``, by name."""
        ...
