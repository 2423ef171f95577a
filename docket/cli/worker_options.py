"""The options of ``docket worker``: names, environment variables, defaults and help.

Every option pydocket 0.27.2's ``docket worker`` has is here under the same
name and environment variable, with the same default (taken from
``Worker``'s signature), plus docket's own (``--prefetch``,
``--max-deliveries``, ``DOCKET_WORKER_UNTIL_FINISHED``).  docket also reads
``DOCKET_WORKER_FALLBACK_TASK`` beside pydocket's ``DOCKET_FALLBACK_TASK``
(its own name wins when both are set).  Durations are taken as text and
parsed by the command, so a bad one is one error line naming the option;
whole numbers go through ``whole_number``, whose errors show the bad text.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from docket.cli.logs import LogFormat, LogLevel
from docket.cli.options import format_duration, whole_number
from docket.cli.serving import worker_default

__all__ = [
    "ConcurrencyOption",
    "DependenciesOption",
    "EnableInternalInstrumentationOption",
    "FallbackTaskOption",
    "HealthcheckHostOption",
    "HealthcheckPortOption",
    "LoggingFormatOption",
    "LoggingLevelOption",
    "MaxDeliveriesOption",
    "MessageBatchOption",
    "MetricsHostOption",
    "MetricsPortOption",
    "NameOption",
    "PrefetchOption",
    "ScheduleAutomaticTasksOption",
    "UntilFinishedOption",
    "duration_option",
]


def duration_option(parameter: str, help: str) -> Any:
    """``--parameter-name DURATION`` read from ``DOCKET_WORKER_PARAMETER_NAME``."""
    return typer.Option(
        "--" + parameter.replace("_", "-"),
        envvar="DOCKET_WORKER_" + parameter.upper(),
        metavar="DURATION",
        show_default=format_duration(worker_default(parameter)),
        help=help,
    )


NameOption = Annotated[
    str | None,
    typer.Option(
        "--name",
        envvar="DOCKET_WORKER_NAME",
        metavar="NAME",
        help="This worker's name, unique among the docket's workers.",
        show_default="hostname#pid",
    ),
]
LoggingLevelOption = Annotated[
    LogLevel,
    typer.Option(
        "--logging-level",
        envvar="DOCKET_LOGGING_LEVEL",
        case_sensitive=False,
        help="The lowest level of log line to write.",
    ),
]
LoggingFormatOption = Annotated[
    LogFormat | None,
    typer.Option(
        "--logging-format",
        envvar="DOCKET_LOGGING_FORMAT",
        case_sensitive=False,
        show_default="rich on a terminal, else plain",
        help="How to write log lines (to stderr).",
    ),
]
ConcurrencyOption = Annotated[
    int,
    typer.Option(
        "--concurrency",
        envvar="DOCKET_WORKER_CONCURRENCY",
        metavar="N",
        parser=whole_number(1),
        help="How many tasks this worker runs at once (at least 1).",
    ),
]
MessageBatchOption = Annotated[
    int,
    typer.Option(
        "--message-batch",
        envvar="DOCKET_WORKER_MESSAGE_BATCH",
        metavar="N",
        parser=whole_number(1),
        help="The most deliveries one claim may take from the server at once (at least 1).",
    ),
]
PrefetchOption = Annotated[
    int | None,
    typer.Option(
        "--prefetch",
        envvar="DOCKET_WORKER_PREFETCH",
        metavar="N",
        parser=whole_number(0),
        show_default="automatic: up to --concurrency while tasks are short",
        help=(
            "How many claimed tasks to hold beyond the free slots, so a freed slot "
            "starts the next task at once; 0 turns it off. Held tasks not started "
            "within --scheduling-resolution go back to the queue."
        ),
    ),
]
MaxDeliveriesOption = Annotated[
    int | None,
    typer.Option(
        "--max-deliveries",
        envvar="DOCKET_WORKER_MAX_DELIVERIES",
        metavar="N",
        parser=whole_number(1),
        help="How many times one task may be handed out (its workers dying while "
        "they run it) before it is set aside as a dead letter (at least 1).",
    ),
]
ScheduleAutomaticTasksOption = Annotated[
    bool,
    typer.Option(
        "--schedule-automatic-tasks/--no-schedule-automatic-tasks",
        envvar="DOCKET_WORKER_SCHEDULE_AUTOMATIC_TASKS",
        help="Seed automatic perpetual and cron tasks.",
    ),
]
EnableInternalInstrumentationOption = Annotated[
    bool,
    typer.Option(
        "--enable-internal-instrumentation/--no-enable-internal-instrumentation",
        envvar="DOCKET_WORKER_ENABLE_INTERNAL_INSTRUMENTATION",
        help="Also trace docket's own polling and housekeeping with OpenTelemetry spans.",
    ),
]
UntilFinishedOption = Annotated[
    bool,
    typer.Option(
        "--until-finished",
        envvar="DOCKET_WORKER_UNTIL_FINISHED",
        help="Exit once no scheduled, queued or running work is left.",
    ),
]
MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        envvar="DOCKET_WORKER_METRICS_PORT",
        metavar="PORT",
        parser=whole_number(0, 65535),
        help="Serve Prometheus metrics on this port (0 picks a free one), on --metrics-host.",
    ),
]
HealthcheckPortOption = Annotated[
    int | None,
    typer.Option(
        "--healthcheck-port",
        envvar="DOCKET_WORKER_HEALTHCHECK_PORT",
        metavar="PORT",
        parser=whole_number(0, 65535),
        help="Answer HTTP health checks on this port (0 picks a free one): 200 while the "
        "worker reaches its server and claims work, 503 otherwise.",
    ),
]
MetricsHostOption = Annotated[
    str,
    typer.Option(
        "--metrics-host",
        envvar="DOCKET_WORKER_METRICS_HOST",
        metavar="ADDRESS",
        help="The address the metrics server listens on (127.0.0.1 for this machine only; "
        "'::' for every IPv6 interface).",
    ),
]
HealthcheckHostOption = Annotated[
    str,
    typer.Option(
        "--healthcheck-host",
        envvar="DOCKET_WORKER_HEALTHCHECK_HOST",
        metavar="ADDRESS",
        help="The address the health check server listens on (127.0.0.1 for this machine "
        "only; '::' for every IPv6 interface).",
    ),
]
FallbackTaskOption = Annotated[
    str | None,
    typer.Option(
        "--fallback-task",
        envvar=["DOCKET_WORKER_FALLBACK_TASK", "DOCKET_FALLBACK_TASK"],
        metavar="MODULE:FUNCTION",
        help="Run this function (with the original arguments and full dependency "
        "injection) for messages naming a task this worker does not know.",
    ),
]
DependenciesOption = Annotated[
    str | None,
    typer.Option(
        "--dependencies",
        envvar="DOCKET_WORKER_DEPENDENCIES",
        metavar="MODULE:ATTR",
        help="module:attribute naming a mapping or sequence of dependencies (such as "
        "[Depends(fn)]) that run around every task this worker runs.",
    ),
]
