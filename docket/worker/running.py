"""Running one claimed delivery: the checks, the dependencies, the body, and its outcome.

``DeliveryRunner.run`` takes a claim from a slot and returns what became of
it (an ``Outcome``, a ``SetAside``, or None); it writes nothing and calls
nothing back.  Work that cannot run (malformed, undecodable, unknown, or
delivered too often) is set aside; struck work, work past a ``run_at_most``
bound and work cancelled before it began end CANCELLED; the rest runs with
its dependencies, and ``endings.py`` turns how the body ended into the
outcome.  A run's body is the only part a ``Docket.cancel`` may interrupt
(``cancelling.py``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from uncalled_for import FailedDependency

from docket.dependencies.base import AdmissionBlocked, Dependency, Runtime
from docket.dependencies.context import current_docket, current_execution, current_worker
from docket.dependencies.resolution import (
    WORKER_DEPENDENCY_PREFIX,
    has_dependencies,
    resolved_dependencies,
)
from docket.engines.base import Claim, ExecutionRecord
from docket.errors import BadSignature
from docket.execution import Execution
from docket.instrumentation import (
    TASK_DURATION,
    TASK_PUNCTUALITY,
    TASKS_COMPLETED,
    TASKS_FAILED,
    TASKS_REDELIVERED,
    TASKS_STARTED,
    mark_failed,
    mark_ok,
    run_span,
)
from docket.printable import printable
from docket.states import ExecutionState
from docket.timeutil import truncate_to_ms
from docket.worker.cancelling import RunCancellations, RunCancelled
from docket.worker.endings import blocked, failed, succeeded
from docket.worker.event_log import (
    log_cancelled,
    log_set_aside,
    log_started,
    log_struck,
    log_unstorable_result,
)
from docket.worker.outcomes import Deferred, Outcome, RunResult, SetAside, capped
from docket.worker.run_limits import RunLimits
from docket.worker.unknown_tasks import unknown_task

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup  # type: ignore[import-not-found,unused-ignore]

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from docket.worker.worker import Worker

__all__ = ["DeliveryRunner", "TaskFunction"]

# The worker's logger: run log lines are the worker's, as users filter them.
logger = logging.getLogger("docket.worker")

TaskFunction = Callable[..., Any]


def check_resolved(dependencies: dict[str, Any]) -> list[Dependency[Any]]:
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


class DeliveryRunner:
    """Runs one worker's claimed deliveries and says what became of each."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.docket = worker.docket
        self.limits = RunLimits()
        self.cancellations = RunCancellations()

    async def run(self, claim: Claim, held: bool = False) -> RunResult:
        """Run ``claim`` (``held``: it waited in the worker for a slot) to its outcome."""
        record = claim.record
        if record is None:
            log_set_aside(
                f"malformed message {claim.delivery}",
                f"{claim.problem} ({capped(dict(claim.raw))})",
            )
            return SetAside(f"malformed message: {claim.problem}")
        refused = self._refusal(claim, record)
        if refused is not None:
            return refused
        docket, worker = self.docket, self.worker
        function = docket.tasks.get(record.function_name)
        try:
            args, kwargs = docket.codec.decode_call(record.payload, record.function_name)
        except Exception as error:
            log_set_aside(
                repr(record.key),
                f"its arguments cannot be decoded ({type(error).__name__}: {capped(str(error))})",
            )
            if isinstance(error, BadSignature):
                return SetAside(str(error))  # "bad signature: ..."
            return SetAside(f"arguments cannot be decoded: {type(error).__name__}: {error}")

        target = function if function is not None else worker.fallback_task
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
        execution.worker = worker.name
        # A held delivery was marked started when it was claimed; this is
        # when it really starts, and its settlement records that.
        execution.started_at = truncate_to_ms(docket.clock.now()) if held else record.started_at
        execution.progress.generation = record.generation
        execution.progress.apply_record(record)

        if docket.is_stricken(record.function_name, function, args, kwargs):
            log_struck(execution, worker.name)
            return Outcome(execution, ExecutionState.CANCELLED, error="struck")
        if self.limits.spent(execution):
            return Outcome(execution, ExecutionState.CANCELLED)
        if self.cancellations.take_skip(claim.delivery):
            log_cancelled(execution, worker.name)
            return Outcome(execution, ExecutionState.CANCELLED, cancelled=True)

        if claim.suspect and not await self._count_alone(claim, record):
            return None

        current_docket.set(docket)
        current_worker.set(worker)
        current_execution.set(execution)
        labels = {"docket.name": docket.name, "docket.task": record.function_name}
        lateness = (docket.clock.now() - record.when).total_seconds()
        TASKS_STARTED.add(1, labels)
        TASK_PUNCTUALITY.record(max(0.0, lateness), labels)
        if claim.redelivered:
            TASKS_REDELIVERED.add(1, labels)
        log_started(execution, worker.name, lateness)
        with run_span(
            record.function_name,
            record.headers,
            docket=docket.name,
            worker=worker.name,
            key=record.key,
            when=record.when,
            attempt=record.attempt,
        ) as span:
            return await self._run_body(claim, record, execution, target, span, labels)

    async def _count_alone(self, claim: Claim, record: ExecutionRecord) -> bool:
        """Count a suspect's run, which starts alone, against ``max_deliveries``.

        Uncounted, a task that kills its worker would be redelivered forever;
        so when the count cannot be written the run does not start, and the
        delivery comes back once its lease lapses.
        """
        logger.warning(
            "Running %s alone: a worker may have died running it (delivery %d)",
            printable(repr(record.key)),
            claim.deliveries,
        )
        try:
            await self.docket.engine.count_isolated_run(record.key, record.generation)
        except Exception:
            logger.warning(
                "Could not count the run of %s; not running it until its lease lapses",
                printable(repr(record.key)),
                exc_info=True,
            )
            return False
        return True

    def _refusal(self, claim: Claim, record: ExecutionRecord) -> SetAside | Deferred | None:
        """Why a well-formed delivery cannot run at all, if it cannot."""
        worker = self.worker
        if worker.max_deliveries is not None and claim.deliveries > worker.max_deliveries:
            log_set_aside(
                repr(record.key),
                f"delivered {claim.deliveries} times without finishing "
                f"(max_deliveries={worker.max_deliveries}); "
                "its workers may be dying while they run it",
            )
            return SetAside(
                f"delivered {claim.deliveries} times without finishing "
                f"(max_deliveries={worker.max_deliveries})"
            )
        if record.function_name not in self.docket.tasks and worker.fallback_task is None:
            return unknown_task(record, self.docket.clock.now(), worker.unknown_task_grace)
        return None

    async def _run_body(
        self,
        claim: Claim,
        record: ExecutionRecord,
        execution: Execution,
        target: TaskFunction,
        span: Span,
        labels: dict[str, str],
    ) -> RunResult:
        """Resolve the dependencies, await the body, and turn how it ended into the outcome."""
        worker, clock = self.worker, self.docket.clock
        args, kwargs = execution.args, execution.kwargs
        started = clock.monotonic()
        handlers: list[Dependency[Any]] = []
        cancellations = self.cancellations
        cancellations.begin(claim.delivery, execution.key, execution.generation)
        try:
            try:
                if worker.dependencies or has_dependencies(target):
                    async with resolved_dependencies(worker, execution) as dependencies:
                        handlers = check_resolved(dependencies)
                        arguments = {
                            name: value
                            for name, value in dependencies.items()
                            if not name.startswith(WORKER_DEPENDENCY_PREFIX)
                        }
                        result = await invoke(
                            target, execution, args, {**kwargs, **arguments}, handlers
                        )
                else:
                    # The common case awaited here, without a coroutine of its own.
                    result = await (
                        target(*args, **kwargs)
                        if _is_async(target)
                        else _call(target, args, kwargs)
                    )
            except asyncio.CancelledError:
                if cancellations.interrupted(claim.delivery):
                    raise RunCancelled(claim.delivery) from None
                raise
            finally:
                cancellations.end(claim.delivery)
        except RunCancelled:
            mark_ok(span)
            log_cancelled(execution, worker.name, clock.monotonic() - started)
            return Outcome(execution, ExecutionState.CANCELLED, cancelled=True)
        except AdmissionBlocked as block:
            mark_ok(span)
            return blocked(execution, record, worker.name, block)
        except Exception as error:
            duration = clock.monotonic() - started
            TASK_DURATION.record(duration, labels)
            TASKS_FAILED.add(1, labels)
            mark_failed(span, error)
            return await failed(execution, record, worker.name, error, duration, handlers)
        duration = clock.monotonic() - started
        TASK_DURATION.record(duration, labels)
        try:
            encoded = (
                None
                if result is None
                else execution.docket.codec.encode_value(result, execution.key)
            )
        except Exception as error:
            TASKS_FAILED.add(1, labels)
            mark_failed(span, error)
            log_unstorable_result(execution, worker.name, duration, error)
            return Outcome(
                execution,
                ExecutionState.FAILED,
                error=f"{type(error).__name__}: result cannot be serialized: {error}",
            )
        TASKS_COMPLETED.add(1, labels)
        mark_ok(span)
        return await succeeded(execution, record, worker.name, result, encoded, duration, handlers)


async def invoke(
    target: TaskFunction,
    execution: Execution,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    handlers: list[Dependency[Any]],
) -> Any:
    """Await ``target``'s body, through the run's ``Runtime`` (a ``Timeout``) if it has one."""
    runtime = next((h for h in handlers if isinstance(h, Runtime)), None)
    if runtime is None:
        return await _call(target, args, kwargs)

    async def body(*args: Any, **kwargs: Any) -> Any:
        return await _call(target, args, kwargs)

    return await runtime.run(execution, body, args, kwargs)


async def _call(function: TaskFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Await an async task's body; run a sync one in a thread.

    A sync body runs in a thread (with a copy of the run's context), so the
    event loop goes on renewing this worker's leases, hearing of
    cancellations and running other slots however long the body blocks.
    A ``Timeout`` on it ends the run when it expires; the thread itself
    cannot be stopped and finishes on its own, its result discarded.
    """
    if _is_async(function):
        return await function(*args, **kwargs)
    result = await asyncio.to_thread(function, *args, **kwargs)
    if inspect.isawaitable(result):
        # A sync callable that returns an awaitable (a callable object with an
        # async __call__, say): that awaitable belongs on the loop.
        result = await result
    return result


def _coroutine_function(function: TaskFunction) -> bool:
    # A callable object counts by its __call__ (its own attribute, not the type's check).
    call = type(function).__call__ if not inspect.isroutine(function) else None
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


_remembered = functools.lru_cache(maxsize=4096)(_coroutine_function)


def _is_async(function: TaskFunction) -> bool:
    """Whether calling ``function`` gives a coroutine (remembered per function)."""
    try:
        return _remembered(function)
    except TypeError:  # an unhashable callable cannot be remembered
        return _coroutine_function(function)
