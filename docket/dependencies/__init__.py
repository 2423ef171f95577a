"""Task dependencies: values and behaviours the worker provides to each run.

Declare one as a parameter default (or ``Annotated`` metadata); the worker
resolves it for every run.  Built on ``uncalled-for``, as pydocket's are, so
dependencies written for pydocket (fastmcp's among them) work unchanged.
"""

from __future__ import annotations

from uncalled_for import (
    CallArgument,
    CycleError,
    FailedDependency,
    get_annotation_dependencies,
    validate_dependencies,
)

from docket.dependencies.base import (
    AdmissionBlocked,
    CompletionHandler,
    Dependency,
    FailureHandler,
    Runtime,
    TaskOutcome,
    format_duration,
)
from docket.dependencies.concurrency import ConcurrencyBlocked, ConcurrencyLimit
from docket.dependencies.context import (
    CurrentDocket,
    CurrentExecution,
    CurrentWorker,
    TaskKey,
    current_docket,
    current_execution,
    current_worker,
)
from docket.dependencies.cooldown import Cooldown
from docket.dependencies.cron import Cron
from docket.dependencies.debounce import Debounce
from docket.dependencies.functional import (
    DependencyFunction,
    Depends,
    Shared,
    SharedContext,
    TaskArgument,
    _Depends,
    _parameter_cache,
    get_dependency_parameters,
)
from docket.dependencies.logger import TaskLogger
from docket.dependencies.perpetual import Perpetual
from docket.dependencies.progress import Progress
from docket.dependencies.ratelimit import RateLimit
from docket.dependencies.resolution import (
    get_single_dependency_of_type,
    get_single_dependency_parameter_of_type,
    resolved_dependencies,
)
from docket.dependencies.retry import ExponentialRetry, ForcedRetry, Retry
from docket.dependencies.timeout import Timeout

__all__ = [
    "AdmissionBlocked",
    "CallArgument",
    "CompletionHandler",
    "ConcurrencyBlocked",
    "ConcurrencyLimit",
    "Cooldown",
    "Cron",
    "CurrentDocket",
    "CurrentExecution",
    "CurrentWorker",
    "CycleError",
    "Debounce",
    "Dependency",
    "DependencyFunction",
    "Depends",
    "ExponentialRetry",
    "FailedDependency",
    "FailureHandler",
    "ForcedRetry",
    "Perpetual",
    "Progress",
    "RateLimit",
    "Retry",
    "Runtime",
    "Shared",
    "SharedContext",
    "TaskArgument",
    "TaskKey",
    "TaskLogger",
    "TaskOutcome",
    "Timeout",
    "current_docket",
    "current_execution",
    "current_worker",
    "format_duration",
    "get_annotation_dependencies",
    "get_dependency_parameters",
    "get_single_dependency_of_type",
    "get_single_dependency_parameter_of_type",
    "resolved_dependencies",
    "validate_dependencies",
    # fastmcp resolves dependencies outside a worker through these.
    "_Depends",
    "_parameter_cache",
]
