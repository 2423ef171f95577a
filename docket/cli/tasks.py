"""``docket tasks trace|fail|sleep``: add a built-in task, to check a deployment end to end.

``trace`` should show up in a worker's log, ``fail`` should show a retry and
then a failure, ``sleep`` should hold a worker slot.  The tasks themselves
live in ``docket.tasks`` and are imported only when one of these runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.text import Text

from docket.cli.options import (
    DEFAULT_DOCKET,
    DEFAULT_URL,
    DURATION_HELP,
    DocketOption,
    UrlOption,
    parse_duration,
)
from docket.cli.snapshot import format_when
from docket.cli.support import CLIError, exit_with_error, make_console, open_docket, run

__all__ = ["app"]

app = typer.Typer(help="Add one of docket's built-in tasks.", no_args_is_help=True)

DelayOption = Annotated[
    str,
    typer.Option(
        "--delay", metavar="DURATION", help="Run it this much later; " + DURATION_HELP + "."
    ),
]


def _builtin(name: str) -> Callable[..., Any]:
    try:
        from docket import tasks
    except ImportError as error:
        raise CLIError(f"docket's built-in tasks are not available: {error}") from None
    function: Callable[..., Any] | None = getattr(tasks, name, None)
    if function is None:
        raise CLIError(f"docket has no built-in task {name!r}")
    return function


def _add(name: str, docket_name: str, url: str, delay: str, *args: Any) -> None:
    console = make_console()

    async def main() -> None:
        wait = parse_duration(delay, "--delay")
        function = _builtin(name)
        async with open_docket(docket_name, url) as docket:
            now = docket.clock.now()
            when = now + wait if wait > timedelta(0) else None
            execution = await docket.add(function, when=when)(*args)
            due = format_when(execution.when, now) if when is not None else "now"
            console.print(
                Text(
                    f"Added {name}({', '.join(repr(a) for a in args)}) to docket "
                    f"{docket.name!r} as {execution.key} (due {due})"
                )
            )

    run(main, url=url)


@app.command()
def trace(
    message: Annotated[str, typer.Argument(help="What the task logs.")] = "Howdy!",
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
    delay: DelayOption = "0",
) -> None:
    """Add a task that logs MESSAGE on the worker that runs it."""
    _add("trace", docket_name, url, delay, message)


@app.command()
def fail(
    message: Annotated[str, typer.Argument(help="What the task raises.")] = "Howdy!",
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
    delay: DelayOption = "0",
) -> None:
    """Add a task that always fails with MESSAGE (after one retry)."""
    _add("fail", docket_name, url, delay, message)


@app.command()
def sleep(
    seconds: Annotated[
        str,
        typer.Argument(metavar="DURATION", help="How long the task sleeps; " + DURATION_HELP + "."),
    ] = "1",
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
    delay: DelayOption = "0",
) -> None:
    """Add a task that sleeps for DURATION on a worker, holding one of its slots."""
    try:
        length = _sleep_seconds(seconds)
    except CLIError as error:
        raise exit_with_error(str(error)) from None
    _add("sleep", docket_name, url, delay, length)


def _sleep_seconds(text: str) -> float:
    """A duration, or any number of seconds pydocket's float argument took (``1e-3``)."""
    try:
        return parse_duration(text, "sleep duration").total_seconds()
    except CLIError as error:
        invalid = error
    try:
        seconds = float(text)
    except ValueError:
        raise invalid from None
    if not math.isfinite(seconds) or seconds < 0:
        raise invalid
    return seconds
