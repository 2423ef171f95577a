"""``Worker.run``: pydocket's entry point that opens a docket and runs a worker on it.

It is the same path as the ``docket worker`` command (``docket.cli.worker``),
imported when called, since the CLI itself imports the worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

__all__ = ["run_worker_entry"]


async def run_worker_entry(
    cls: type,
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
    tasks: list[str] = ["docket.tasks:standard_tasks"],  # noqa: B006 - pydocket's; never mutated
    fallback_task: str | None = None,
    message_batch: int = 1000,
    dependencies: Mapping[str, Any] | Sequence[Any] | str | None = None,
) -> None:
    """Open a docket and run a worker on it as ``docket worker`` does (pydocket's ``Worker.run``).

    ``tasks``, ``fallback_task`` and a string ``dependencies`` are
    ``"module:attribute"`` paths.  Returns when the worker stops: with
    ``until_finished`` once no work is left, otherwise on SIGTERM or SIGINT.
    See ``docket.cli.worker.run_worker``.
    """
    from docket.cli.worker import run_worker

    await run_worker(
        docket_name,
        url,
        name,
        concurrency,
        redelivery_timeout,
        reconnection_delay,
        minimum_check_interval,
        scheduling_resolution,
        schedule_automatic_tasks,
        enable_internal_instrumentation,
        until_finished,
        healthcheck_port,
        metrics_port,
        tasks,
        fallback_task,
        message_batch,
        dependencies,
    )
