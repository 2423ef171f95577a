"""How a run's end becomes an ``Outcome``: success, failure, a block, a cancellation.

Each function here takes what the body did and what the run's handlers
(``Retry``, ``Perpetual``, ``Timeout``...) say about it, logs the run's last
line, and returns the ``Outcome`` to write: the end, or the key's next run
(a retry, a perpetual's next run, work sent back by admission control).
Nothing here writes to storage; ``settling.py`` does.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from docket.dependencies.base import (
    AdmissionBlocked,
    CompletionHandler,
    Dependency,
    FailureHandler,
    TaskOutcome,
)
from docket.dependencies.retry import Retry
from docket.engines.base import ExecutionRecord, TaskMessage
from docket.engines.records import MESSAGE_DEFAULTS
from docket.execution import Execution
from docket.frozen import build_frozen
from docket.instrumentation import TASKS_RETRIED
from docket.printable import printable
from docket.results import store_result
from docket.states import ExecutionState
from docket.timeutil import truncate_to_ms
from docket.worker.event_log import (
    log_blocked,
    log_cancelled,
    log_completed,
    log_failed,
    log_retrying,
)
from docket.worker.outcomes import Outcome, RunResult, log_context

__all__ = ["ADMISSION_RETRY_DELAY", "blocked", "failed", "succeeded"]

# The worker's logger: run log lines are the worker's, as users filter them.
logger = logging.getLogger("docket.worker")

ADMISSION_RETRY_DELAY = timedelta(milliseconds=100)
"""How long work blocked by admission control waits before it is tried again."""


async def succeeded(
    execution: Execution,
    record: ExecutionRecord,
    worker: str,
    result: Any,
    encoded: bytes | None,
    duration: float,
    handlers: list[Dependency[Any]],
) -> Outcome:
    """The outcome of a body that returned ``result`` (already ``encoded``)."""
    if handlers:
        decision = TaskOutcome(duration=timedelta(seconds=duration), result=result)
        arranged = await _completed(execution, decision, handlers, worker)
        if decision.cancelled:
            log_cancelled(execution, worker, duration, itself=True)
            return Outcome(execution, ExecutionState.CANCELLED)
        if arranged:
            log_completed(execution, worker, duration, decision.next_run_at)
            return Outcome(
                execution,
                ExecutionState.COMPLETED,
                reschedule=_next_run(record, execution, decision),
            )
    log_completed(execution, worker, duration)
    if encoded is not None and await store_result(
        execution.docket, execution.key, execution.generation, encoded
    ):
        encoded = None
    return Outcome(execution, ExecutionState.COMPLETED, result=encoded)


async def failed(
    execution: Execution,
    record: ExecutionRecord,
    worker: str,
    error: Exception,
    duration: float,
    handlers: list[Dependency[Any]],
) -> Outcome:
    """The outcome of a body that raised ``error``: a retry, a next run, or FAILED."""
    context = log_context(execution, worker)
    decision = TaskOutcome(duration=timedelta(seconds=duration), exception=error)
    for handler in handlers:
        if not isinstance(handler, FailureHandler):
            continue
        try:
            if await handler.handle_failure(execution, decision):
                break
        except Exception:
            logger.exception(
                "Failure handler %r raised for %s",
                handler,
                printable(execution.call_repr()),
                extra=context,
            )
    if decision.retry_at is not None:
        TASKS_RETRIED.add(
            1, {"docket.name": execution.docket.name, "docket.task": execution.function_name}
        )
        retry_handler = next((h for h in handlers if isinstance(h, Retry)), None)
        attempts = retry_handler.attempts if retry_handler is not None else None
        log_retrying(execution, worker, duration, error, decision.retry_at, attempts)
        retry = TaskMessage(
            key=execution.key,
            function_name=execution.function_name,
            payload=record.payload,
            when=truncate_to_ms(decision.retry_at),
            attempt=execution.attempt + 1,
            headers=record.headers,
        )
        return Outcome(execution, ExecutionState.QUEUED, reschedule=retry, exception=error)
    # A Retry that let it fail has had its attempts: it gave up.
    gave_up = execution.attempt > 1 and any(isinstance(h, Retry) for h in handlers)
    if await _completed(execution, decision, handlers, worker):
        log_failed(
            execution, worker, duration, error, gave_up=gave_up, next_run=decision.next_run_at
        )
        return Outcome(
            execution,
            ExecutionState.FAILED,
            reschedule=_next_run(record, execution, decision),
            exception=error,
        )
    log_failed(execution, worker, duration, error, gave_up=gave_up)
    encoded = execution.docket.codec.encode_exception(error, execution.key)
    if encoded is not None and await store_result(
        execution.docket, execution.key, execution.generation, encoded
    ):
        encoded = None
    return Outcome(
        execution,
        ExecutionState.FAILED,
        result=encoded,
        error=f"{type(error).__name__}: {error}",
        exception=error,
    )


def blocked(
    execution: Execution, record: ExecutionRecord, worker: str, block: AdmissionBlocked
) -> RunResult:
    """The outcome of a run admission control kept from starting: tried again later, or dropped."""
    if block.handled:
        return None
    if block.reschedule:
        delay = block.retry_delay or ADMISSION_RETRY_DELAY
        log_blocked(execution, worker, block.reason, delay.total_seconds())
        again = TaskMessage(
            key=execution.key,
            function_name=execution.function_name,
            payload=record.payload,
            when=truncate_to_ms(execution.docket.clock.now() + delay),
            attempt=execution.attempt,
            headers=record.headers,
        )
        return Outcome(execution, ExecutionState.QUEUED, reschedule=again, wait_for=block.wait_for)
    log_blocked(execution, worker, block.reason, None)
    return Outcome(execution, ExecutionState.CANCELLED, error=block.reason)


async def _completed(
    execution: Execution,
    decision: TaskOutcome,
    handlers: list[Dependency[Any]],
    worker: str,
) -> bool:
    """Give completion handlers their say; True if one arranged a next run."""
    for handler in handlers:
        if not isinstance(handler, CompletionHandler):
            continue
        try:
            await handler.on_complete(execution, decision)
        except Exception:
            logger.exception(
                "Completion handler %r raised for %s",
                handler,
                printable(execution.call_repr()),
                extra=log_context(execution, worker),
            )
    return decision.next_run_at is not None


def _next_run(record: ExecutionRecord, execution: Execution, decision: TaskOutcome) -> TaskMessage:
    """The key's next run a completion handler arranged (same key, attempt 1)."""
    assert decision.next_run_at is not None
    payload = record.payload
    if decision.next_arguments is not None:
        next_args, next_kwargs = decision.next_arguments
        payload = execution.docket.codec.encode_call(
            execution.function_name, next_args, next_kwargs, execution.function
        )
    return build_frozen(
        TaskMessage,
        MESSAGE_DEFAULTS,
        key=execution.key,
        function_name=execution.function_name,
        payload=payload,
        when=truncate_to_ms(decision.next_run_at),
        attempt=1,
        headers=record.headers,
    )
