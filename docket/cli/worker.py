"""``docket worker`` and ``run_worker``: run a Worker for tasks named by ``module:attribute``.

``run_worker`` takes exactly the parameters of pydocket's ``Worker.run``
(``Worker.run`` awaits it) plus docket's keyword-only ``prefetch`` and
``max_deliveries``; the ``worker`` command parses its options (see
``worker_options``), sets up logging and goes the same way: both build
``WorkerSettings`` and hand them to ``serving.serve``.  They differ only in
how errors name a setting (``fallback_task`` or ``--fallback-task``) and in
what a second signal means: ``run_worker`` returns, the command exits with
128 + the signal number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any

import typer

from docket.cli.logs import LogLevel, configure_logging
from docket.cli.loops import LoopChoice, LoopOption, loop_factory
from docket.cli.metrics import DEFAULT_HOST
from docket.cli.options import (
    DEFAULT_DOCKET,
    DEFAULT_URL,
    STANDARD_TASKS,
    DocketOption,
    TasksOption,
    UrlOption,
    parse_duration,
)
from docket.cli.serving import WorkerSettings, serve, worker_default
from docket.cli.support import CLIError, check_url, exit_with_error, run
from docket.cli.worker_options import (
    ConcurrencyOption,
    DependenciesOption,
    EnableInternalInstrumentationOption,
    FallbackTaskOption,
    HealthcheckHostOption,
    HealthcheckPortOption,
    LoggingFormatOption,
    LoggingLevelOption,
    MaxDeliveriesOption,
    MessageBatchOption,
    MetricsHostOption,
    MetricsPortOption,
    NameOption,
    PrefetchOption,
    ScheduleAutomaticTasksOption,
    UntilFinishedOption,
    duration_option,
)

__all__ = ["option_label", "run_worker", "worker"]

_CONCURRENCY: int = worker_default("concurrency")
_MESSAGE_BATCH: int = worker_default("message_batch")
_PREFETCH: int | None = worker_default("prefetch")
_MAX_DELIVERIES: int | None = worker_default("max_deliveries")
_UNKNOWN_TASK_GRACE: timedelta = worker_default("unknown_task_grace")


async def run_worker(
    docket_name: str = "docket",
    url: str = "redis://localhost:6379/0",
    name: str | None = None,
    concurrency: int = 10,
    redelivery_timeout: timedelta = timedelta(minutes=5),
    reconnection_delay: timedelta = timedelta(seconds=5),
    minimum_check_interval: timedelta = timedelta(milliseconds=250),
    scheduling_resolution: timedelta = timedelta(milliseconds=250),
    schedule_automatic_tasks: bool = True,
    enable_internal_instrumentation: bool = False,
    until_finished: bool = False,
    healthcheck_port: int | None = None,
    metrics_port: int | None = None,
    tasks: list[str] = [STANDARD_TASKS],  # noqa: B006 - pydocket's signature; never mutated
    fallback_task: str | None = None,
    message_batch: int = 1000,
    dependencies: Mapping[str, Any] | Sequence[Any] | str | None = None,
    *,
    prefetch: int | None = _PREFETCH,
    max_deliveries: int | None = _MAX_DELIVERIES,
    unknown_task_grace: timedelta = _UNKNOWN_TASK_GRACE,
    metrics_host: str = DEFAULT_HOST,
    healthcheck_host: str = DEFAULT_HOST,
) -> None:
    """Run a worker the way ``docket worker`` does, until it is finished or stopped.

    Opens docket ``docket_name`` at ``url``, registers the task collections
    named in ``tasks`` (``"module:attribute"``; docket's built-in tasks are
    always registered), and runs a ``Worker`` with the other settings:
    ``fallback_task`` may be a ``"module:function"`` path and
    ``dependencies`` the ``"module:attribute"`` of a mapping or sequence of
    dependencies (``""`` means none).  With ``until_finished`` it returns
    once no work is left; otherwise it runs until SIGTERM or SIGINT (where
    the event loop can take signal handlers): the first stops claiming and
    lets running work finish, a second abandons running work, and either way
    it returns.  ``healthcheck_port`` and ``metrics_port`` serve a health
    check and Prometheus metrics while it runs, on ``healthcheck_host`` and
    ``metrics_host`` (every interface unless told).

    Unlike pydocket's ``Worker.run``, ``minimum_check_interval`` defaults to
    the Worker's own 250 ms (pydocket's ``run`` said 100 ms), and a
    cancellation from outside is raised, not swallowed.  A bad setting raises
    an exception naming the parameter and the value: a path that cannot be
    imported an ``ImportError``, a missing attribute an ``AttributeError``,
    something of the wrong kind a ``TypeError``, a bad URL, port or number a
    ``ValueError``.
    """
    settings = WorkerSettings(
        docket_name=docket_name,
        url=url,
        tasks=tasks,
        name=name,
        concurrency=concurrency,
        redelivery_timeout=redelivery_timeout,
        reconnection_delay=reconnection_delay,
        minimum_check_interval=minimum_check_interval,
        scheduling_resolution=scheduling_resolution,
        schedule_automatic_tasks=schedule_automatic_tasks,
        enable_internal_instrumentation=enable_internal_instrumentation,
        until_finished=until_finished,
        healthcheck_port=healthcheck_port,
        metrics_port=metrics_port,
        fallback_task=fallback_task,
        message_batch=message_batch,
        dependencies=dependencies,
        prefetch=prefetch,
        max_deliveries=max_deliveries,
        unknown_task_grace=unknown_task_grace,
        metrics_host=metrics_host,
        healthcheck_host=healthcheck_host,
    )
    await serve(settings)


def option_label(parameter: str) -> str:
    """How the command's errors name a setting: by its option (``--fallback-task``)."""
    if parameter == "docket_name":
        return "--docket"
    return "--" + parameter.replace("_", "-")


def _duration(text: str | None, parameter: str, *, zero: bool = False) -> timedelta:
    option = option_label(parameter)
    if text is None:
        value: timedelta = worker_default(parameter)
        return value
    value = parse_duration(text, option)
    if value < timedelta(0) or (value == timedelta(0) and not zero):
        limit = "must not be negative" if zero else "must be more than zero"
        raise CLIError(f"invalid {option} {text!r}: {limit}")
    return value


def worker(
    tasks: TasksOption = None,
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
    name: NameOption = None,
    logging_level: LoggingLevelOption = LogLevel.INFO,
    logging_format: LoggingFormatOption = None,
    concurrency: ConcurrencyOption = _CONCURRENCY,
    message_batch: MessageBatchOption = _MESSAGE_BATCH,
    prefetch: PrefetchOption = _PREFETCH,
    max_deliveries: MaxDeliveriesOption = _MAX_DELIVERIES,
    redelivery_timeout: Annotated[
        str | None,
        duration_option(
            "redelivery_timeout",
            "How long a claim lasts before another worker may take the work over if "
            "this one dies (renewed while the task runs).",
        ),
    ] = None,
    reconnection_delay: Annotated[
        str | None,
        duration_option(
            "reconnection_delay",
            "How long to wait before trying again after losing the server.",
        ),
    ] = None,
    minimum_check_interval: Annotated[
        str | None,
        duration_option(
            "minimum_check_interval",
            "How often an idle worker re-checks for finished work elsewhere.",
        ),
    ] = None,
    scheduling_resolution: Annotated[
        str | None,
        duration_option(
            "scheduling_resolution",
            "The longest a claimed task may be held here waiting for a slot "
            "before it goes back to the queue.",
        ),
    ] = None,
    unknown_task_grace: Annotated[
        str | None,
        duration_option(
            "unknown_task_grace",
            "How long work for a task this worker does not know goes back on the "
            "queue (with backoff, for a worker that knows it) before it is set aside "
            "as a dead letter; 0 sets it aside at once.",
        ),
    ] = None,
    schedule_automatic_tasks: ScheduleAutomaticTasksOption = True,
    enable_internal_instrumentation: EnableInternalInstrumentationOption = False,
    until_finished: UntilFinishedOption = False,
    healthcheck_port: HealthcheckPortOption = None,
    metrics_port: MetricsPortOption = None,
    healthcheck_host: HealthcheckHostOption = DEFAULT_HOST,
    metrics_host: MetricsHostOption = DEFAULT_HOST,
    fallback_task: FallbackTaskOption = None,
    dependencies: DependenciesOption = None,
    loop: LoopOption = LoopChoice.AUTO,
) -> None:
    """Run a worker: claim the docket's work and run it, until stopped.

    SIGTERM or SIGINT stops claiming, lets running work finish and exits 0; a
    second signal abandons running work (its leases expire and another worker
    takes it over) and exits at once.

    DURATION is seconds (1.5), 250ms, 5s, 10m, 1h, mm:ss or hh:mm:ss.
    """

    def settings() -> WorkerSettings:
        check_url(url, allow_memory=True)
        return WorkerSettings(
            docket_name=docket_name,
            url=url,
            tasks=tasks or (STANDARD_TASKS,),
            name=name,
            concurrency=concurrency,
            redelivery_timeout=_duration(redelivery_timeout, "redelivery_timeout"),
            reconnection_delay=_duration(reconnection_delay, "reconnection_delay"),
            minimum_check_interval=_duration(minimum_check_interval, "minimum_check_interval"),
            scheduling_resolution=_duration(scheduling_resolution, "scheduling_resolution"),
            schedule_automatic_tasks=schedule_automatic_tasks,
            enable_internal_instrumentation=enable_internal_instrumentation,
            until_finished=until_finished,
            healthcheck_port=healthcheck_port,
            metrics_port=metrics_port,
            healthcheck_host=healthcheck_host,
            metrics_host=metrics_host,
            fallback_task=fallback_task,
            message_batch=message_batch,
            dependencies=dependencies,
            prefetch=prefetch,
            max_deliveries=max_deliveries,
            unknown_task_grace=_duration(unknown_task_grace, "unknown_task_grace", zero=True),
        )

    try:
        factory = loop_factory(loop)
    except ValueError as error:
        raise exit_with_error(str(error)) from None
    restore_logging = configure_logging(logging_level, logging_format)
    try:

        async def main() -> int:
            return await serve(settings(), option_label)

        code = run(main, url=url, loop_factory=factory)
    finally:
        restore_logging()
    if code:
        raise typer.Exit(code)
