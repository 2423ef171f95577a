"""Running one worker process's worth of work: the path ``docket worker`` and ``run_worker`` share.

``WorkerSettings`` holds what pydocket's ``Worker.run`` takes (task
collections, the fallback task and dependencies may still be
``module:attribute`` paths); ``serve`` loads them, opens the docket, starts
the metrics and health servers, runs a ``Worker`` until it is finished or
stopped by a signal (see ``shutdown``), and says how it ended.

Every defaulted setting is ``Worker``'s (or ``Docket``'s) own default, read
from its signature, so the command line never disagrees with the library.
In particular ``minimum_check_interval`` is the Worker's 250 ms, where
pydocket's ``Worker.run`` and CLI used 100 ms against its own Worker's 250 ms.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from docket.cli.dockets import warn_if_wrong_docket
from docket.cli.health import HealthMonitor, start_health_server
from docket.cli.loading import load_dependencies, load_function, load_tasks
from docket.cli.loops import loop_name
from docket.cli.metrics import DEFAULT_HOST, start_metrics_server
from docket.cli.options import DEFAULT_DOCKET, DEFAULT_URL, STANDARD_TASKS
from docket.cli.shutdown import Shutdown
from docket.cli.support import InvalidValue, open_docket
from docket.dependencies import Dependency
from docket.printable import printable
from docket.worker import Worker
from docket.worker.event_log import log_worker_started

__all__ = [
    "WorkerSettings",
    "describe_task",
    "parameter_label",
    "serve",
    "worker_default",
]

logger = logging.getLogger("docket.cli")

TaskFunction = Callable[..., Any]

_WORKER_DEFAULTS = inspect.signature(Worker.__init__).parameters


def worker_default(parameter: str) -> Any:
    """``Worker``'s own default for ``parameter``: the CLI never disagrees with the library."""
    return _WORKER_DEFAULTS[parameter].default


def parameter_label(parameter: str) -> str:
    """How errors name a setting given to ``run_worker``: by its parameter name."""
    return parameter


@dataclass(frozen=True)
class WorkerSettings:
    """Everything ``serve`` needs; the names are those of pydocket's ``Worker.run``."""

    docket_name: str = DEFAULT_DOCKET
    url: str = DEFAULT_URL
    tasks: Sequence[str | TaskFunction] = (STANDARD_TASKS,)
    name: str | None = None
    concurrency: int = field(default_factory=lambda: int(worker_default("concurrency")))
    redelivery_timeout: timedelta = field(
        default_factory=lambda: worker_default("redelivery_timeout")
    )
    reconnection_delay: timedelta = field(
        default_factory=lambda: worker_default("reconnection_delay")
    )
    minimum_check_interval: timedelta = field(
        default_factory=lambda: worker_default("minimum_check_interval")
    )
    scheduling_resolution: timedelta = field(
        default_factory=lambda: worker_default("scheduling_resolution")
    )
    schedule_automatic_tasks: bool = True
    enable_internal_instrumentation: bool = False
    until_finished: bool = False
    healthcheck_port: int | None = None
    metrics_port: int | None = None
    healthcheck_host: str = DEFAULT_HOST
    metrics_host: str = DEFAULT_HOST
    fallback_task: str | TaskFunction | None = None
    message_batch: int = field(default_factory=lambda: int(worker_default("message_batch")))
    dependencies: Mapping[str, Any] | Sequence[Any] | str | None = None
    prefetch: int | None = field(default_factory=lambda: worker_default("prefetch"))
    max_deliveries: int | None = field(default_factory=lambda: worker_default("max_deliveries"))
    unknown_task_grace: timedelta = field(
        default_factory=lambda: worker_default("unknown_task_grace")
    )


def describe_task(name: str, function: TaskFunction) -> str:
    """``name(a: int, b: str = 'x', ...)``: parameters, with injected dependencies as ``...``."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return f"{name}(...)"
    shown: list[str] = []
    injected = False
    for parameter in signature.parameters.values():
        if isinstance(parameter.default, Dependency):
            injected = True
            continue
        text = parameter.name
        if parameter.kind is parameter.VAR_POSITIONAL:
            text = "*" + text
        elif parameter.kind is parameter.VAR_KEYWORD:
            text = "**" + text
        if parameter.annotation is not parameter.empty:
            annotation = parameter.annotation
            if not isinstance(annotation, str):
                annotation = getattr(annotation, "__name__", None) or repr(annotation)
            text += f": {annotation}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        shown.append(text)
    if injected:
        shown.append("...")
    return f"{name}({', '.join(shown)})"


def _port(value: int | None, label: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise InvalidValue(f"invalid {label} {value!r}: expected a port number, 0 to 65535")
    return value


def _tasks(settings: WorkerSettings, label: Callable[[str], str]) -> list[TaskFunction]:
    tasks = settings.tasks
    entries: Sequence[str | TaskFunction] = [tasks] if isinstance(tasks, str) else tasks
    functions: list[TaskFunction] = []
    for entry in entries:
        loaded = load_tasks([entry], label("tasks")) if isinstance(entry, str) else [entry]
        functions.extend(f for f in loaded if f not in functions)
    return functions


async def serve(settings: WorkerSettings, label: Callable[[str], str] = parameter_label) -> int:
    """Run a worker as ``settings`` say; return the process exit code.

    0 once it is finished (``until_finished``) or stopped by a signal and
    drained, 128 + the signal number when a second signal cut it short.
    Bad paths, ports and URLs raise before anything connects, naming the
    setting by ``label(parameter)`` (an option name on the command line);
    the Worker's own checks (``concurrency``, durations) raise once the
    docket is open, naming the parameter.
    """
    tasks = _tasks(settings, label)
    fallback_task = (
        load_function(settings.fallback_task, label("fallback_task"))
        if settings.fallback_task
        else None
    )
    dependencies = load_dependencies(settings.dependencies, label("dependencies"))
    metrics_port = _port(settings.metrics_port, label("metrics_port"))
    healthcheck_port = _port(settings.healthcheck_port, label("healthcheck_port"))
    task = asyncio.current_task()
    assert task is not None
    shutdown: Shutdown | None = None
    try:
        async with AsyncExitStack() as stack:
            if metrics_port is not None:
                stack.callback(start_metrics_server(metrics_port, settings.metrics_host).stop)
            docket = await stack.enter_async_context(
                open_docket(
                    settings.docket_name,
                    settings.url,
                    tasks=tasks,
                    allow_memory=True,
                    enable_internal_instrumentation=settings.enable_internal_instrumentation,
                    label=label("url"),
                )
            )
            await warn_if_wrong_docket(docket, label)
            worker = Worker(
                docket,
                # An empty name means the default, as in pydocket.
                name=settings.name or None,
                concurrency=settings.concurrency,
                redelivery_timeout=settings.redelivery_timeout,
                reconnection_delay=settings.reconnection_delay,
                minimum_check_interval=settings.minimum_check_interval,
                scheduling_resolution=settings.scheduling_resolution,
                schedule_automatic_tasks=settings.schedule_automatic_tasks,
                enable_internal_instrumentation=settings.enable_internal_instrumentation,
                fallback_task=fallback_task,
                dependencies=dependencies,
                message_batch=settings.message_batch,
                prefetch=settings.prefetch,
                max_deliveries=settings.max_deliveries,
                unknown_task_grace=settings.unknown_task_grace,
            )
            monitor: HealthMonitor | None = None
            if healthcheck_port is not None:
                monitor = HealthMonitor(
                    docket, worker.name, claim_loop_healthy=lambda: worker.healthy
                )
                await monitor.probe()
                stack.callback(
                    start_health_server(monitor, healthcheck_port, settings.healthcheck_host).stop
                )
                probing = asyncio.create_task(monitor.run(), name="docket:healthcheck")
                stack.push_async_callback(_cancel, probing)
            shutdown = Shutdown(worker, task, monitor)
            # Handlers go in once the worker is entered (entering resets a
            # stop request) and come out only after it has drained.
            stack.push_async_callback(_uninstall, shutdown)
            await stack.enter_async_context(worker)
            shutdown.install()
            log_worker_started(
                worker.name, docket.name, settings.url, worker.concurrency, docket.tasks
            )
            for name, function in sorted(docket.tasks.items()):
                logger.info("* %s", printable(describe_task(name, function)))
            logger.info("Event loop: %s", loop_name(asyncio.get_running_loop()))
            if monitor is not None:
                monitor.claiming = shutdown.received == 0
            if settings.until_finished:
                await worker.run_until_finished()
            else:
                await worker.run_forever()
            if monitor is not None:
                monitor.claiming = False
            if shutdown.received:
                logger.info("Worker %r: waiting for running work to finish", worker.name)
            else:
                logger.info("Worker %r: no work left", worker.name)
        logger.info("Worker stopped")
        return 0
    except asyncio.CancelledError:
        if shutdown is not None and shutdown.forced_by is not None:
            # The cancellations were ours (a second signal): the caller's
            # task must not stay marked as being cancelled.
            cancelling = getattr(task, "cancelling", None)  # Python 3.11+
            while cancelling is not None and cancelling():
                task.uncancel()  # type: ignore[attr-defined,unused-ignore]
            stragglers = [run for run in shutdown.worker.abandoned if not run.done()]
            if stragglers:
                # A task that ignores its cancellation would keep the event
                # loop (and so the process) alive; its work is handed back.
                logger.warning(
                    "%d abandoned task(s) ignored cancellation; exiting now", len(stragglers)
                )
                logging.shutdown()
                os._exit(128 + shutdown.forced_by)
            return 128 + shutdown.forced_by
        raise


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _uninstall(shutdown: Shutdown) -> None:
    shutdown.uninstall()
