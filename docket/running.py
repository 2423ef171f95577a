"""How a worker runs one claimed delivery: checks, dependencies, the body, the outcome.

``RunPath`` is the worker's run path, split out of ``docket.worker`` so each
module has one job: the worker owns slots, claiming and writing outcomes;
this module owns what happens between a delivery being started in a slot and
its outcome being handed back to the worker (``Worker._settle``) or set
aside (``Worker._set_aside``).  It reads the worker's configuration
(``fallback_task``, ``dependencies``, ``max_deliveries``) and its shared
dependency scope.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from uncalled_for import FailedDependency

from docket.cancelling import RunCancellations, RunCancelled
from docket.dependencies.base import (
    AdmissionBlocked,
    CompletionHandler,
    Dependency,
    FailureHandler,
    Runtime,
    TaskOutcome,
    format_duration,
)
from docket.dependencies.context import current_docket, current_execution, current_worker
from docket.dependencies.resolution import (
    WORKER_DEPENDENCY_PREFIX,
    has_dependencies,
    resolved_dependencies,
)
from docket.engines.base import Claim, TaskMessage
from docket.execution import Execution
from docket.instrumentation import (
    TASK_DURATION,
    TASK_PUNCTUALITY,
    TASKS_COMPLETED,
    TASKS_FAILED,
    TASKS_REDELIVERED,
    TASKS_RETRIED,
    TASKS_STARTED,
    mark_failed,
    mark_ok,
    run_span,
)
from docket.results import store_result
from docket.serialization import (
    decode_call,
    encode_call,
    encode_exception,
    encode_value,
    truncate_to_ms,
)
from docket.states import ExecutionState

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup  # type: ignore[import-not-found,unused-ignore]

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from docket.worker import Worker

__all__ = ["ADMISSION_RETRY_DELAY", "RunPath", "TaskFunction", "format_duration"]

# The worker's logger: run log lines are the worker's, as users filter them.
logger = logging.getLogger("docket.worker")

TaskFunction = Callable[..., Any]

ADMISSION_RETRY_DELAY = timedelta(milliseconds=100)
"""How long work blocked by admission control waits before it is tried again."""


def _check_resolved(dependencies: dict[str, Any]) -> list[Dependency[Any]]:
    """The run's handlers, once every dependency resolved; else raise why not.

    An admission gate that blocked the run raises its ``AdmissionBlocked``
    as it is; other failures raise together, as pydocket words them.  The
    handlers are the resolved values that are dependencies themselves (the
    per-run copies of ``Retry``, ``Perpetual``, ``Timeout``...).
    """
    failures = [value for value in dependencies.values() if isinstance(value, FailedDependency)]
    for failure in failures:
        if isinstance(failure.error, AdmissionBlocked):
            raise failure.error
    if failures:
        # pydocket's wording, then each cause, so the recorded error says why.
        raise ExceptionGroup(
            "Failed to resolve dependencies for parameter(s): "
            + ", ".join(failure.parameter for failure in failures)
            + " ("
            + "; ".join(
                f"{failure.parameter}: {type(failure.error).__name__}: {failure.error}"
                for failure in failures
            )
            + ")",
            [failure.error for failure in failures],
        )
    return [value for value in dependencies.values() if isinstance(value, Dependency)]


class RunPath:
    """Runs claimed deliveries for one worker and hands each outcome back to it."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.docket = worker.docket
        # Set by Worker.run_at_most: how many starts each key or task may have.
        self.limits: dict[str, int] | None = None
        self.started_counts: Counter[str] = Counter()
        self.cancellations = RunCancellations()

    async def execute(self, claim: Claim, held: bool = False) -> None:
        """Run one claimed delivery to its outcome, which goes to the worker to write.

        Malformed, undecodable, unknown or too-often delivered work is set
        aside as a dead letter; struck work and work past a ``run_at_most``
        bound end CANCELLED; everything else runs with its dependencies.
        """
        record = claim.record
        docket = self.docket
        if record is None:
            logger.error(
                "Setting aside malformed message %s: %s (%r)",
                claim.delivery,
                claim.problem,
                dict(claim.raw),
            )
            await self.worker._set_aside(claim, f"malformed message: {claim.problem}")
            return
        if self.worker.max_deliveries is not None and claim.deliveries > self.worker.max_deliveries:
            logger.error(
                "Setting aside %r: delivered %d times without finishing (max_deliveries=%d); "
                "its workers may be dying while they run it",
                record.key,
                claim.deliveries,
                self.worker.max_deliveries,
            )
            await self.worker._set_aside(
                claim,
                f"delivered {claim.deliveries} times without finishing "
                f"(max_deliveries={self.worker.max_deliveries})",
            )
            return
        function = docket.tasks.get(record.function_name)
        if function is None and self.worker.fallback_task is None:
            logger.warning(
                "Unknown task %r received - setting it aside as a dead letter. Register via "
                "CLI (--tasks your.module:tasks) or API (docket.register(func)).",
                record.function_name,
            )
            await self.worker._set_aside(claim, f"unknown task {record.function_name!r}")
            return
        try:
            args, kwargs = decode_call(record.payload)
        except Exception as error:
            logger.error(
                "Setting aside %r: its arguments cannot be decoded (%s: %s)",
                record.key,
                type(error).__name__,
                error,
            )
            await self.worker._set_aside(
                claim, f"arguments cannot be decoded: {type(error).__name__}: {error}"
            )
            return

        target = function if function is not None else self.worker.fallback_task
        assert target is not None
        execution = Execution(
            docket,
            target,
            args,
            kwargs,
            record.key,
            record.when,
            record.attempt,
            redelivered=claim.redelivered,
            function_name=record.function_name,
            generation=record.generation,
            message_id=claim.delivery,
            state=ExecutionState.RUNNING,
            headers=record.headers,
        )
        execution.worker = self.worker.name
        # A held delivery was marked started when it was claimed; this is
        # when it really starts, and its settlement records that.
        execution.started_at = truncate_to_ms(docket.clock.now()) if held else record.started_at
        execution.progress.generation = record.generation
        execution.progress.apply_record(record)

        if docket.is_stricken(record.function_name, function, args, kwargs):
            logger.warning("🗙 %s", execution.call_repr(), extra=self.log_context(execution))
            self.worker._settle(claim, execution, ExecutionState.CANCELLED, error="struck")
            return

        if self._over_limit(execution):
            self.worker._settle(claim, execution, ExecutionState.CANCELLED)
            return

        if self.cancellations.take_skip(claim.delivery):
            logger.info(
                "✗ %s (cancelled)", execution.call_repr(), extra=self.log_context(execution)
            )
            self.worker._settle(claim, execution, ExecutionState.CANCELLED, cancelled=True)
            return

        current_docket.set(docket)
        current_worker.set(self.worker)
        current_execution.set(execution)
        labels = {"docket.name": docket.name, "docket.task": record.function_name}
        lateness = (docket.clock.now() - record.when).total_seconds()
        TASKS_STARTED.add(1, labels)
        TASK_PUNCTUALITY.record(max(0.0, lateness), labels)
        if claim.redelivered:
            TASKS_REDELIVERED.add(1, labels)
        if logger.isEnabledFor(logging.INFO):
            arrow = "↬" if record.attempt > 1 or claim.redelivered else "↪"
            logger.info(
                "%s [%s] %s",
                arrow,
                format_duration(lateness),
                execution.call_repr(),
                extra=self.log_context(execution),
            )
        with run_span(
            record.function_name,
            record.headers,
            docket=docket.name,
            worker=self.worker.name,
            key=record.key,
            when=record.when,
            attempt=record.attempt,
        ) as span:
            await self._run_execution(claim, execution, target, args, kwargs, span, labels)

    async def _run_execution(
        self,
        claim: Claim,
        execution: Execution,
        target: TaskFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        span: Span,
        labels: dict[str, str],
    ) -> None:
        clock = self.docket.clock
        started = clock.monotonic()
        handlers: list[Dependency[Any]] = []
        cancellations = self.cancellations
        cancellations.begin(claim.delivery, execution.key, execution.generation)
        try:
            try:
                if self.worker.dependencies or has_dependencies(target):
                    async with resolved_dependencies(self.worker, execution) as dependencies:
                        handlers = _check_resolved(dependencies)
                        arguments = {
                            name: value
                            for name, value in dependencies.items()
                            if not name.startswith(WORKER_DEPENDENCY_PREFIX)
                        }
                        result = await self._invoke(
                            target, execution, args, {**kwargs, **arguments}, handlers
                        )
                else:
                    result = target(*args, **kwargs)
                    if inspect.isawaitable(result):
                        result = await result
            except asyncio.CancelledError:
                if cancellations.interrupted(claim.delivery):
                    raise RunCancelled(claim.delivery) from None
                raise
            finally:
                cancellations.end(claim.delivery)
        except RunCancelled:
            mark_ok(span)
            logger.info(
                "✗ [%s] %s (cancelled)",
                format_duration(clock.monotonic() - started),
                execution.call_repr(),
                extra=self.log_context(execution),
            )
            self.worker._settle(claim, execution, ExecutionState.CANCELLED, cancelled=True)
            return
        except AdmissionBlocked as blocked:
            mark_ok(span)
            await self._blocked(claim, execution, blocked)
            return
        except Exception as error:
            duration = clock.monotonic() - started
            TASK_DURATION.record(duration, labels)
            TASKS_FAILED.add(1, labels)
            mark_failed(span, error)
            await self._failed(claim, execution, error, duration, handlers)
            return
        duration = clock.monotonic() - started
        TASK_DURATION.record(duration, labels)
        try:
            encoded = None if result is None else encode_value(result)
        except Exception as error:
            TASKS_FAILED.add(1, labels)
            mark_failed(span, error)
            logger.error(
                "↩ [%s] %s returned a value that cannot be stored: %s",
                format_duration(duration),
                execution.call_repr(),
                error,
                extra=self.log_context(execution),
            )
            self.worker._settle(
                claim,
                execution,
                ExecutionState.FAILED,
                error=f"{type(error).__name__}: result cannot be serialized: {error}",
            )
            return
        TASKS_COMPLETED.add(1, labels)
        mark_ok(span)
        if handlers:
            outcome = TaskOutcome(duration=timedelta(seconds=duration), result=result)
            arranged = await self._completed(execution, outcome, handlers)
            if outcome.cancelled:
                logger.info(
                    "⏹ [%s] %s (cancelled itself)",
                    format_duration(duration),
                    execution.call_repr(),
                    extra=self.log_context(execution),
                )
                self.worker._settle(claim, execution, ExecutionState.CANCELLED)
                return
            if arranged:
                logger.info(
                    "↫ [%s] %s",
                    format_duration(duration),
                    execution.call_repr(),
                    extra=self.log_context(execution),
                )
                self.worker._settle(
                    claim,
                    execution,
                    ExecutionState.COMPLETED,
                    reschedule=self._next_run(claim, execution, outcome),
                )
                return
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "↩ [%s] %s",
                format_duration(duration),
                execution.call_repr(),
                extra=self.log_context(execution),
            )
        if encoded is not None and await store_result(
            self.docket, execution.key, execution.generation, encoded
        ):
            encoded = None
        self.worker._settle(claim, execution, ExecutionState.COMPLETED, result=encoded)

    async def _invoke(
        self,
        target: TaskFunction,
        execution: Execution,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        handlers: list[Dependency[Any]],
    ) -> Any:
        runtime = next((h for h in handlers if isinstance(h, Runtime)), None)
        if runtime is None:
            return await self._call(target, args, kwargs)

        async def body(*args: Any, **kwargs: Any) -> Any:
            return await self._call(target, args, kwargs)

        return await runtime.run(execution, body, args, kwargs)

    @staticmethod
    async def _call(function: TaskFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = function(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _completed(
        self, execution: Execution, outcome: TaskOutcome, handlers: list[Dependency[Any]]
    ) -> bool:
        """Give completion handlers their say; True if one arranged a next run."""
        for handler in handlers:
            if not isinstance(handler, CompletionHandler):
                continue
            try:
                await handler.on_complete(execution, outcome)
            except Exception:
                logger.exception(
                    "Completion handler %r raised for %s",
                    handler,
                    execution.call_repr(),
                    extra=self.log_context(execution),
                )
        return outcome.next_run_at is not None

    def _next_run(self, claim: Claim, execution: Execution, outcome: TaskOutcome) -> TaskMessage:
        assert outcome.next_run_at is not None and claim.record is not None
        payload = claim.record.payload
        if outcome.next_arguments is not None:
            next_args, next_kwargs = outcome.next_arguments
            payload = encode_call(
                execution.function_name, next_args, next_kwargs, execution.function
            )
        return TaskMessage(
            key=execution.key,
            function_name=execution.function_name,
            payload=payload,
            when=truncate_to_ms(outcome.next_run_at),
            attempt=1,
            headers=claim.record.headers,
        )

    async def _blocked(self, claim: Claim, execution: Execution, blocked: AdmissionBlocked) -> None:
        if blocked.handled:
            return
        call = execution.call_repr()
        if blocked.reschedule:
            delay = blocked.retry_delay or ADMISSION_RETRY_DELAY
            logger.debug(
                "⏳ Task %s blocked (%s), rescheduling in %s",
                call,
                blocked.reason,
                delay,
                extra=self.log_context(execution),
            )
            assert claim.record is not None
            again = TaskMessage(
                key=execution.key,
                function_name=execution.function_name,
                payload=claim.record.payload,
                when=truncate_to_ms(self.docket.clock.now() + delay),
                attempt=execution.attempt,
                headers=claim.record.headers,
            )
            self.worker._settle(
                claim,
                execution,
                ExecutionState.QUEUED,
                reschedule=again,
                wait_for=blocked.wait_for,
            )
            return
        logger.debug(
            "⏭ Task %s blocked (%s), dropping",
            call,
            blocked.reason,
            extra=self.log_context(execution),
        )
        self.worker._settle(claim, execution, ExecutionState.CANCELLED, error=blocked.reason)

    async def _failed(
        self,
        claim: Claim,
        execution: Execution,
        error: Exception,
        duration: float,
        handlers: list[Dependency[Any]],
    ) -> None:
        outcome = TaskOutcome(duration=timedelta(seconds=duration), exception=error)
        for handler in handlers:
            if not isinstance(handler, FailureHandler):
                continue
            try:
                if await handler.handle_failure(execution, outcome):
                    break
            except Exception:
                logger.exception(
                    "Failure handler %r raised for %s",
                    handler,
                    execution.call_repr(),
                    extra=self.log_context(execution),
                )
        call = execution.call_repr()
        logger.error(
            "↩ [%s] %s",
            format_duration(duration),
            call,
            exc_info=error,
            extra=self.log_context(execution),
        )
        assert claim.record is not None
        if outcome.retry_at is not None:
            TASKS_RETRIED.add(
                1, {"docket.name": self.docket.name, "docket.task": execution.function_name}
            )
            logger.info(
                "↫ [%s] %s", format_duration(duration), call, extra=self.log_context(execution)
            )
            retry = TaskMessage(
                key=execution.key,
                function_name=execution.function_name,
                payload=claim.record.payload,
                when=truncate_to_ms(outcome.retry_at),
                attempt=execution.attempt + 1,
                headers=claim.record.headers,
            )
            self.worker._settle(
                claim, execution, ExecutionState.QUEUED, reschedule=retry, exception=error
            )
            return
        if await self._completed(execution, outcome, handlers):
            logger.info(
                "↫ [%s] %s", format_duration(duration), call, extra=self.log_context(execution)
            )
            self.worker._settle(
                claim,
                execution,
                ExecutionState.FAILED,
                reschedule=self._next_run(claim, execution, outcome),
                exception=error,
            )
            return
        encoded: bytes | None = encode_exception(error)
        if encoded is not None and await store_result(
            self.docket, execution.key, execution.generation, encoded
        ):
            encoded = None
        self.worker._settle(
            claim,
            execution,
            ExecutionState.FAILED,
            result=encoded,
            error=f"{type(error).__name__}: {error}",
            exception=error,
        )

    def log_context(self, execution: Execution) -> dict[str, Any]:
        """The structured context a run's log records carry, as TaskLogger's do."""
        return {
            "docket.name": self.docket.name,
            "docket.worker": self.worker.name,
            "docket.task": execution.function_name,
            "docket.key": execution.key,
            "docket.attempt": execution.attempt,
        }

    def _over_limit(self, execution: Execution) -> bool:
        """Whether ``run_at_most``'s bound for this key or task is spent (counting this start)."""
        if self.limits is None:
            return False
        for name in (execution.key, execution.function_name):
            if name in self.limits:
                if self.started_counts[name] >= self.limits[name]:
                    return True
        for name in {execution.key, execution.function_name}:
            if name in self.limits:
                self.started_counts[name] += 1
        return False
