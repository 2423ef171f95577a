"""Options shared by commands: their environment variables, defaults, and duration parsing.

Every option a command shares (``--docket``, ``--url``, ``--tasks``) is
declared once here, with its ``DOCKET_*`` environment variable, so the names
stay consistent and show up in ``--help``.  Durations are taken as text and
parsed by ``parse_duration`` inside the command, so a bad one is reported on
one line like every other error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

import typer

from docket.cli.support import CLIError

__all__ = [
    "DEFAULT_DOCKET",
    "DEFAULT_URL",
    "STANDARD_TASKS",
    "WatchUrlOption",
    "DocketOption",
    "DURATION_HELP",
    "TasksOption",
    "UrlOption",
    "format_duration",
    "parse_duration",
    "whole_number",
]

DEFAULT_DOCKET = "docket"
DEFAULT_URL = "redis://localhost:6379/0"
STANDARD_TASKS = "docket.tasks:standard_tasks"
"""pydocket's default ``--tasks`` (every Docket registers these built-in tasks anyway)."""

URL_HELP = (
    "Where the docket lives: redis://, rediss://, redis+sentinel://, redis+cluster:// "
    "(or fakeredis:// for tests)."
)
DURATION_HELP = "a duration: seconds (1.5), 250ms, 5s, 10m, 1h, 30d, mm:ss or hh:mm:ss"

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
        help=URL_HELP,
    ),
]
WatchUrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        "-u",
        # pydocket's watch read DOCKET_REDIS_URL only; DOCKET_URL, like every
        # other command, comes first.
        envvar=["DOCKET_URL", "DOCKET_REDIS_URL"],
        metavar="URL",
        help=URL_HELP,
    ),
]
TasksOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tasks",
        envvar="DOCKET_TASKS",
        metavar="MODULE:ATTR",
        show_default=STANDARD_TASKS,
        help=(
            "module:attribute naming an iterable of task functions to register; repeat "
            "for more (in DOCKET_TASKS, separate them with spaces). docket's built-in "
            "tasks (trace, fail, sleep) are registered either way."
        ),
    ),
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Digits may be grouped with underscores and signed with "+", as Python's int()
# (which pydocket parses durations with) allows.
_DIGITS = r"\+?\d(?:_?\d)*"
_NUMBER = re.compile(rf"^({_DIGITS}(?:\.\d*)?|\+?\.\d+)\s*(ms|s|m|h|d)?$")
_WHOLE = re.compile(rf"^{_DIGITS}$")
_SECONDS = re.compile(rf"^(?:{_DIGITS}(?:\.\d*)?|\+?\.\d+)$")


def _clock(text: str) -> timedelta | None:
    """``mm:ss`` or ``hh:mm:ss`` (any field may exceed 59, as in pydocket; seconds may be
    fractional), or None."""
    parts = [part.strip() for part in text.split(":")]
    if len(parts) not in (2, 3):
        return None
    *whole, seconds = parts
    if not all(_WHOLE.match(part) for part in whole) or not _SECONDS.match(seconds):
        return None
    amounts = [int(part.replace("_", "")) for part in whole]
    total = float(seconds.replace("_", ""))
    for amount, unit in zip(reversed(amounts), (60, 3600), strict=False):
        total += amount * unit
    return timedelta(seconds=total)


def parse_duration(text: str, option: str = "duration") -> timedelta:
    """``text`` as a non-negative duration.

    Accepts every form pydocket's CLI does (``123``, ``123s``, ``123m``,
    ``123h``, ``mm:ss``, ``hh:mm:ss``) and also fractions, milliseconds and
    days (``1.5``, ``250ms``, ``0:00:00.5``, ``30d``).  Raises ``CLIError``
    naming ``option`` and the text otherwise, and for a duration too long
    for a ``timedelta``; negative durations are refused.
    """
    value = text.strip().lower()
    try:
        number = _NUMBER.match(value)
        if number:
            amount = float(number.group(1).replace("_", ""))
            return timedelta(seconds=amount * _UNITS[number.group(2) or "s"])
        clock = _clock(value)
    except OverflowError:
        raise CLIError(
            f"invalid {option} {text!r}: too long (at most {timedelta.max.days:,} days)"
        ) from None
    if clock is not None:
        return clock
    raise CLIError(f"invalid {option} {text!r}: expected {DURATION_HELP}")


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A typer ``parser`` for whole numbers in ``[minimum, maximum]``.

    Its errors show the text that was given (typer's own for ``int`` options
    do not), after typer's ``Invalid value for '--option'``.
    """

    def parse(text: str | int) -> int:
        if isinstance(text, int):
            return text  # a default, not text from the command line
        try:
            value = int(text.strip())
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"{minimum} to {maximum}"
            raise typer.BadParameter(f"{text!r} is out of range: expected {bounds}")
        return value

    return parse


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
