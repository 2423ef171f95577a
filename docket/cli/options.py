"""Options shared by commands: their environment variables, defaults, and duration parsing.

Every option a command shares (``--docket``, ``--url``, ``--tasks``) is
declared once here, with its ``DOCKET_*`` environment variable, so the names
stay consistent and show up in ``--help``.  Durations are taken as text and
parsed by ``parse_duration`` inside the command, so a bad one is reported on
one line like every other error.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

import typer

from docket.cli.support import CLIError

__all__ = [
    "DEFAULT_DOCKET",
    "DEFAULT_URL",
    "DocketOption",
    "DURATION_HELP",
    "TasksOption",
    "UrlOption",
    "format_duration",
    "parse_duration",
]

DEFAULT_DOCKET = "docket"
DEFAULT_URL = "redis://localhost:6379/0"

DURATION_HELP = "a duration: seconds (1.5), 250ms, 5s, 10m, 1h, mm:ss or hh:mm:ss"

DocketOption = Annotated[
    str,
    typer.Option(
        "--docket",
        "-d",
        envvar="DOCKET_NAME",
        metavar="NAME",
        help="The name of the docket (shared by its producers and workers).",
    ),
]
UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        "-u",
        envvar="DOCKET_URL",
        metavar="URL",
        help="Where the docket lives: redis://, rediss:// (or fakeredis:// for tests).",
    ),
]
TasksOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tasks",
        envvar="DOCKET_TASKS",
        metavar="MODULE:ATTR",
        help=(
            "module:attribute naming an iterable of task functions; repeat for more "
            "(in DOCKET_TASKS, separate them with spaces)."
        ),
    ),
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?$")
_CLOCK = re.compile(r"^(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d*)?))?$")


def parse_duration(text: str, option: str = "duration") -> timedelta:
    """``text`` as a non-negative duration.

    Accepts plain seconds (``30``, ``1.5``), a number with a unit (``250ms``,
    ``5s``, ``10m``, ``1h``), ``mm:ss`` or ``hh:mm:ss``.  Raises ``CLIError``
    naming ``option`` otherwise.
    """
    value = text.strip().lower()
    number = _NUMBER.match(value)
    if number:
        return timedelta(seconds=float(number.group(1)) * _UNITS[number.group(2) or "s"])
    clock = _CLOCK.match(value)
    if clock:
        first, second, third = clock.groups()
        if third is None:
            minutes, seconds = int(first), int(second)
            if seconds < 60:
                return timedelta(minutes=minutes, seconds=seconds)
        else:
            hours, minutes, fraction = int(first), int(second), float(third)
            if minutes < 60 and fraction < 60:
                return timedelta(hours=hours, minutes=minutes, seconds=fraction)
    raise CLIError(f"invalid {option} {text!r}: expected {DURATION_HELP}")


def format_duration(value: timedelta) -> str:
    """The shortest of ``250ms``, ``5s``, ``10m``, ``1h`` that states ``value`` exactly."""
    milliseconds = round(value.total_seconds() * 1000)
    if milliseconds % 1000:
        return f"{milliseconds}ms"
    seconds = milliseconds // 1000
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
