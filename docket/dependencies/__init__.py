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
from docket.dependencies.context import CurrentDocket, CurrentExecution, CurrentWorker, TaskKey
from docket.dependencies.depends import Depends, Shared, TaskArgument
from docket.dependencies.logger import TaskLogger
from docket.dependencies.progress import Progress
from docket.dependencies.retry import ExponentialRetry, Retry

__all__ = [
    "AdmissionBlocked",
    "CompletionHandler",
    "CurrentDocket",
    "CurrentExecution",
    "CurrentWorker",
    "Dependency",
    "Depends",
    "ExponentialRetry",
    "FailureHandler",
    "Progress",
    "Retry",
    "Runtime",
    "Shared",
    "TaskArgument",
    "TaskKey",
    "TaskLogger",
    "TaskOutcome",
]
