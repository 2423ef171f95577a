"""docket: background work for asyncio, on Redis Streams or an in-memory twin.

Schedule async functions now or later with a ``Docket``, run them with a
``Worker``, and test it all on ``memory://`` with a ``VirtualClock``.
"""

from __future__ import annotations

from docket import testing  # noqa: E402  (re-exported: the API names docket.testing)
from docket.agenda import Agenda
from docket.annotations import Logged
from docket.clock import Clock, SystemClock, VirtualClock
from docket.dependencies import (
    CallArgument,
    ConcurrencyLimit,
    Cooldown,
    Cron,
    CurrentDocket,
    CurrentExecution,
    CurrentWorker,
    CycleError,
    Debounce,
    Depends,
    ExponentialRetry,
    Perpetual,
    Progress,
    RateLimit,
    Retry,
    Shared,
    TaskArgument,
    TaskKey,
    TaskLogger,
    Timeout,
)
from docket.docket import Docket, DocketSnapshot
from docket.errors import (
    BadSignature,
    ExecutionCancelled,
    ExecutionExpired,
    ExecutionFailed,
    RunsForever,
    UnknownTaskError,
)
from docket.execution import Execution, TaskCall
from docket.states import Disposition, ExecutionState
from docket.strikelist import StrikeList
from docket.worker import Worker

__version__ = "0.28.0"

__all__ = [
    "Agenda",
    "BadSignature",
    "CallArgument",
    "Clock",
    "ConcurrencyLimit",
    "Cooldown",
    "Cron",
    "CurrentDocket",
    "CurrentExecution",
    "CurrentWorker",
    "CycleError",
    "Debounce",
    "Depends",
    "Disposition",
    "Docket",
    "DocketSnapshot",
    "Execution",
    "ExecutionCancelled",
    "ExecutionExpired",
    "ExecutionFailed",
    "ExecutionState",
    "ExponentialRetry",
    "Logged",
    "Perpetual",
    "Progress",
    "RateLimit",
    "Retry",
    "Shared",
    "StrikeList",
    "SystemClock",
    "TaskArgument",
    "TaskCall",
    "TaskKey",
    "TaskLogger",
    "Timeout",
    "RunsForever",
    "UnknownTaskError",
    "VirtualClock",
    "Worker",
    "__version__",
    "testing",
]
