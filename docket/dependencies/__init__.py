"""Task dependencies: values and behaviours the worker provides to each run.

Declare one as a parameter default; the worker resolves it for every run.
"""

from __future__ import annotations

from docket.dependencies.base import (
    AdmissionBlocked,
    CompletionHandler,
    Dependency,
    FailureHandler,
    Runtime,
    TaskOutcome,
)
from docket.dependencies.concurrency import ConcurrencyBlocked, ConcurrencyLimit
from docket.dependencies.context import CurrentDocket, CurrentExecution, CurrentWorker, TaskKey
from docket.dependencies.cooldown import Cooldown
from docket.dependencies.cron import Cron
from docket.dependencies.debounce import Debounce
from docket.dependencies.depends import Depends, Shared, TaskArgument
from docket.dependencies.logger import TaskLogger
from docket.dependencies.perpetual import Perpetual
from docket.dependencies.progress import Progress
from docket.dependencies.ratelimit import RateLimit
from docket.dependencies.retry import ExponentialRetry, ForcedRetry, Retry
from docket.dependencies.timeout import Timeout

__all__ = [
    "AdmissionBlocked",
    "CompletionHandler",
    "ConcurrencyBlocked",
    "ConcurrencyLimit",
    "Cooldown",
    "Cron",
    "CurrentDocket",
    "CurrentExecution",
    "CurrentWorker",
    "Debounce",
    "Dependency",
    "Depends",
    "ExponentialRetry",
    "FailureHandler",
    "ForcedRetry",
    "Perpetual",
    "Progress",
    "RateLimit",
    "Retry",
    "Runtime",
    "Shared",
    "TaskArgument",
    "TaskKey",
    "TaskLogger",
    "TaskOutcome",
    "Timeout",
]
