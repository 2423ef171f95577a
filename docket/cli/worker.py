"""``docket worker``: run a Worker for the tasks named on the command line.

Owns the worker's options (each with a ``DOCKET_*`` environment variable and
the library's own defaults, read from ``Worker``'s signature so the two never
drift), the startup log, the metrics and health servers, and signals:

* the first SIGTERM or SIGINT stops claiming, lets running work finish, and
  exits 0;
* a second one cancels running work and exits at once (128 + the signal
  number); its leases expire and another worker picks the work up;
* a third (if cancellation itself hangs) ends the process on the spot.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import typer

from docket.cli.health import HealthMonitor, start_health_server
from docket.cli.loading import builtin_tasks, load_function, load_tasks
from docket.cli.logs import LogFormat, LogLevel, configure_logging
from docket.cli.metrics import start_metrics_server
from docket.cli.options import (
    DEFAULT_DOCKET,
    DEFAULT_URL,
    DocketOption,
    TasksOption,
    UrlOption,
    format_duration,
    parse_duration,
)
from docket.cli.support import CLIError, check_url, open_docket, run
from docket.clock import SystemClock
from docket.dependencies.base import Dependency
from docket.worker import Worker

__all__ = ["WorkerSettings", "serve", "worker"]

logger = logging.getLogger("docket.cli")

TaskFunction = Callable[..., Any]

_WORKER_DEFAULTS = inspect.signature(Worker.__init__).parameters


def _default(parameter: str) -> Any:
    """``Worker``'s own default for ``parameter``: the CLI never disagrees with the library."""
    return _WORKER_DEFAULTS[parameter].default


def _duration_default(parameter: str) -> str:
    value: timedelta = _default(parameter)
    return format_duration(value)


@dataclass(frozen=True)
class WorkerSettings:
    """Everything ``serve`` needs, already parsed and checked."""

    docket: str
    url: str
    tasks: list[TaskFunction]
    name: str | None = None
    concurrency: int = field(default_factory=lambda: int(_default("concurrency")))
    prefetch: int | None = field(default_factory=lambda: _default("prefetch"))
    max_deliveries: int | None = field(default_factory=lambda: _default("max_deliveries"))
    redelivery_timeout: timedelta = field(default_factory=lambda: _default("redelivery_timeout"))
    reconnection_delay: timedelta = field(default_factory=lambda: _default("reconnection_delay"))
    minimum_check_interval: timedelta = field(
        default_factory=lambda: _default("minimum_check_interval")
    )
    scheduling_resolution: timedelta = field(
        default_factory=lambda: _default("scheduling_resolution")
    )
    schedule_automatic_tasks: bool = True
    fallback_task: TaskFunction | None = None
    until_finished: bool = False
    metrics_port: int | None = None
    healthcheck_port: int | None = None


class Shutdown:
    """Turns SIGTERM/SIGINT into a graceful stop, then a forced one, then an exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(
        self, worker: Worker, task: asyncio.Task[Any], monitor: HealthMonitor | None
    ) -> None:
        self.worker = worker
        self.task = task
        self.monitor = monitor
        self.received = 0
        self.forced_by: int | None = None
        self._installed: list[int] = []
        self._insisting: asyncio.Task[None] | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self.SIGNALS:
            try:
                loop.add_signal_handler(signum, self.handle, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or not supported here
            self._installed.append(signum)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed = []

    def handle(self, signum: int) -> None:
        self.received += 1
        name = signal.Signals(signum).name
        if self.received == 1:
            logger.warning(
                "Received %s: no longer claiming work; finishing the work that is running "
                "(send %s again to exit at once)",
                name,
                name,
            )
            if self.monitor is not None:
                self.monitor.claiming = False
            self.worker.stop()
        elif self.received == 2:
            logger.warning("Received %s again: abandoning running work and exiting now", name)
            self.forced_by = signum
            self._insisting = asyncio.get_running_loop().create_task(self._insist())
        else:
            os._exit(128 + signum)

    async def _insist(self) -> None:
        """Cancel the main task until it ends.

        One cancellation can be absorbed by the claim loop just before the
        worker starts draining, and a drain waits for running work; repeating
        it reaches the drain too, which then abandons that work.
        """
        clock = SystemClock()
        while not self.task.done():
            self.task.cancel()
            await clock.sleep(0.05)


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


async def serve(settings: WorkerSettings) -> int:
    """Run a worker as ``settings`` say; return the process exit code."""
    task = asyncio.current_task()
    assert task is not None
    shutdown: Shutdown | None = None
    try:
        async with AsyncExitStack() as stack:
            if settings.metrics_port is not None:
                stack.callback(start_metrics_server(settings.metrics_port).stop)
            docket = await stack.enter_async_context(
                open_docket(settings.docket, settings.url, tasks=settings.tasks, allow_memory=True)
            )
            worker = Worker(
                docket,
                name=settings.name,
                concurrency=settings.concurrency,
                prefetch=settings.prefetch,
                max_deliveries=settings.max_deliveries,
                redelivery_timeout=settings.redelivery_timeout,
                reconnection_delay=settings.reconnection_delay,
                minimum_check_interval=settings.minimum_check_interval,
                scheduling_resolution=settings.scheduling_resolution,
                schedule_automatic_tasks=settings.schedule_automatic_tasks,
                fallback_task=settings.fallback_task,
            )
            monitor: HealthMonitor | None = None
            if settings.healthcheck_port is not None:
                monitor = HealthMonitor(docket, worker.name)
                await monitor.probe()
                stack.callback(start_health_server(monitor, settings.healthcheck_port).stop)
                probing = asyncio.create_task(monitor.run(), name="docket:healthcheck")
                stack.push_async_callback(_cancel, probing)
            shutdown = Shutdown(worker, task, monitor)
            # Handlers go in once the worker is entered (entering resets a
            # stop request) and come out only after it has drained.
            stack.push_async_callback(_uninstall, shutdown)
            await stack.enter_async_context(worker)
            shutdown.install()
            logger.info("Starting worker %r with the following tasks:", worker.name)
            for name, function in sorted(docket.tasks.items()):
                logger.info("* %s", describe_task(name, function))
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
            return 128 + shutdown.forced_by
        raise


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _uninstall(shutdown: Shutdown) -> None:
    shutdown.uninstall()


def worker(
    tasks: TasksOption = None,
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            envvar="DOCKET_WORKER_NAME",
            metavar="NAME",
            help="This worker's name, unique among the docket's workers.",
            show_default="hostname#pid",
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            envvar="DOCKET_WORKER_CONCURRENCY",
            metavar="N",
            min=1,
            help="How many tasks this worker runs at once.",
        ),
    ] = _default("concurrency"),
    prefetch: Annotated[
        int | None,
        typer.Option(
            "--prefetch",
            envvar="DOCKET_WORKER_PREFETCH",
            metavar="N",
            min=0,
            show_default="automatic: up to --concurrency while tasks are short",
            help=(
                "How many claimed tasks to hold beyond the free slots, so a freed slot "
                "starts the next task at once; 0 turns it off. Held tasks not started "
                "within --scheduling-resolution go back to the queue."
            ),
        ),
    ] = _default("prefetch"),
    max_deliveries: Annotated[
        int | None,
        typer.Option(
            "--max-deliveries",
            envvar="DOCKET_WORKER_MAX_DELIVERIES",
            metavar="N",
            min=1,
            help="How many times one task may be handed out (its workers dying while "
            "they run it) before it is set aside as a dead letter.",
        ),
    ] = _default("max_deliveries"),
    redelivery_timeout: Annotated[
        str | None,
        typer.Option(
            "--redelivery-timeout",
            envvar="DOCKET_WORKER_REDELIVERY_TIMEOUT",
            metavar="DURATION",
            show_default=_duration_default("redelivery_timeout"),
            help="How long a claim lasts before another worker may take the work over "
            "if this one dies.",
        ),
    ] = None,
    reconnection_delay: Annotated[
        str | None,
        typer.Option(
            "--reconnection-delay",
            envvar="DOCKET_WORKER_RECONNECTION_DELAY",
            metavar="DURATION",
            show_default=_duration_default("reconnection_delay"),
            help="How long to wait before trying again after losing the server.",
        ),
    ] = None,
    minimum_check_interval: Annotated[
        str | None,
        typer.Option(
            "--minimum-check-interval",
            envvar="DOCKET_WORKER_MINIMUM_CHECK_INTERVAL",
            metavar="DURATION",
            show_default=_duration_default("minimum_check_interval"),
            help="How often an idle worker re-checks for finished work elsewhere.",
        ),
    ] = None,
    scheduling_resolution: Annotated[
        str | None,
        typer.Option(
            "--scheduling-resolution",
            envvar="DOCKET_WORKER_SCHEDULING_RESOLUTION",
            metavar="DURATION",
            show_default=_duration_default("scheduling_resolution"),
            help="The longest a claimed task may be held here waiting for a slot "
            "before it goes back to the queue.",
        ),
    ] = None,
    schedule_automatic_tasks: Annotated[
        bool,
        typer.Option(
            "--schedule-automatic-tasks/--no-schedule-automatic-tasks",
            envvar="DOCKET_WORKER_SCHEDULE_AUTOMATIC_TASKS",
            help="Seed automatic perpetual and cron tasks.",
        ),
    ] = _default("schedule_automatic_tasks"),
    until_finished: Annotated[
        bool,
        typer.Option(
            "--until-finished",
            envvar="DOCKET_WORKER_UNTIL_FINISHED",
            help="Exit once no scheduled, queued or running work is left.",
        ),
    ] = False,
    logging_level: Annotated[
        LogLevel,
        typer.Option(
            "--logging-level",
            envvar="DOCKET_LOGGING_LEVEL",
            case_sensitive=False,
            help="The lowest level of log line to write.",
        ),
    ] = LogLevel.INFO,
    logging_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--logging-format",
            envvar="DOCKET_LOGGING_FORMAT",
            case_sensitive=False,
            show_default="rich on a terminal, else plain",
            help="How to write log lines (to stderr).",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="DOCKET_WORKER_METRICS_PORT",
            metavar="PORT",
            min=1,
            max=65535,
            help="Serve Prometheus metrics on this port (all interfaces).",
        ),
    ] = None,
    healthcheck_port: Annotated[
        int | None,
        typer.Option(
            "--healthcheck-port",
            envvar="DOCKET_WORKER_HEALTHCHECK_PORT",
            metavar="PORT",
            min=1,
            max=65535,
            help="Answer HTTP health checks on this port: 200 while the worker reaches its "
            "server and claims work, 503 otherwise.",
        ),
    ] = None,
    fallback_task: Annotated[
        str | None,
        typer.Option(
            "--fallback-task",
            envvar=["DOCKET_WORKER_FALLBACK_TASK", "DOCKET_FALLBACK_TASK"],
            metavar="MODULE:FUNCTION",
            help="Run this function (with the original arguments) for messages naming "
            "a task this worker does not know.",
        ),
    ] = None,
) -> None:
    """Run a worker: claim the docket's work and run it, until stopped.

    SIGTERM or SIGINT stops claiming, lets running work finish and exits 0; a
    second signal abandons running work (its leases expire and another worker
    takes it over) and exits at once.  docket's built-in tasks (trace, fail,
    sleep) are always registered.

    DURATION is seconds (1.5), 250ms, 5s, 10m, 1h, mm:ss or hh:mm:ss.
    """

    def settings() -> WorkerSettings:
        check_url(url, allow_memory=True)
        return WorkerSettings(
            docket=docket_name,
            url=url,
            tasks=builtin_tasks() + load_tasks(tasks or []),
            name=name,
            concurrency=concurrency,
            prefetch=prefetch,
            max_deliveries=max_deliveries,
            redelivery_timeout=_duration(redelivery_timeout, "redelivery_timeout"),
            reconnection_delay=_duration(reconnection_delay, "reconnection_delay"),
            minimum_check_interval=_duration(minimum_check_interval, "minimum_check_interval"),
            scheduling_resolution=_duration(scheduling_resolution, "scheduling_resolution"),
            schedule_automatic_tasks=schedule_automatic_tasks,
            fallback_task=load_function(fallback_task, "--fallback-task")
            if fallback_task
            else None,
            until_finished=until_finished,
            metrics_port=metrics_port,
            healthcheck_port=healthcheck_port,
        )

    restore_logging = configure_logging(logging_level, logging_format)
    try:

        async def main() -> int:
            return await serve(settings())

        code = run(main, url=url)
    finally:
        restore_logging()
    if code:
        raise typer.Exit(code)


def _duration(text: str | None, parameter: str) -> timedelta:
    option = "--" + parameter.replace("_", "-")
    if text is None:
        value: timedelta = _default(parameter)
        return value
    value = parse_duration(text, option)
    if value <= timedelta(0):
        raise CLIError(f"invalid {option} {text!r}: must be more than zero")
    return value
