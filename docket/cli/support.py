"""What every command shares: one-line errors, running a coroutine, consoles, opening a docket.

A command raises ``CLIError`` (or lets a library or connection error escape);
``run`` turns any of them into one ``error: ...`` line on stderr and a
non-zero exit, never a traceback.  ``open_docket`` is the one way commands
connect, so URL checks and task registration behave the same everywhere.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import typer
from redis import exceptions as redis_errors
from rich.console import Console

from docket import event_loop
from docket.docket import Docket
from docket.engines import SUPPORTED_SCHEMES
from docket.urls import redact_url

__all__ = [
    "CLIError",
    "InvalidValue",
    "check_url",
    "describe_error",
    "make_console",
    "open_docket",
    "redact_url",
    "run",
    "scrub",
]

logger = logging.getLogger("docket.cli")

T = TypeVar("T")

PIPED_WIDTH = 200
"""Console width when output is not a terminal, so piped tables are not truncated."""


class CLIError(Exception):
    """A problem to report to the person at the terminal as a single line."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class InvalidValue(CLIError, ValueError):
    """A bad value for an option (or a ``run_worker`` parameter): a ValueError to callers."""


def one_line(text: str) -> str:
    """``text`` with its whitespace (newlines included) collapsed to single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def check_url(url: str, *, allow_memory: bool, label: str = "--url") -> str:
    """Validate a docket URL's scheme and port before connecting; return it unchanged.

    ``memory://`` dockets live inside one process, so only commands that run
    work in this process (``worker``) or may be pointed at one for a demo
    (``watch``) accept them.  What only an engine knows (a sentinel URL's
    service, say) it checks itself when the docket is built (``open_docket``).
    Errors name the URL as ``label`` (the option, or a parameter).
    """
    shown = redact_url(url)
    if "://" not in url:
        raise InvalidValue(
            f"invalid {label} {shown!r}: expected scheme://..., one of "
            + ", ".join(s + "://" for s in SUPPORTED_SCHEMES)
        )
    try:
        parts = urlsplit(url)
        # A netloc listing several hosts (sentinels, cluster nodes) has no
        # single port to parse.
        if "," not in parts.netloc:
            parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as error:
        raise InvalidValue(f"invalid {label} {shown!r}: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise InvalidValue(
            f"invalid {label} {shown!r}: scheme {scheme!r} is not supported; use one of "
            + ", ".join(s + "://" for s in SUPPORTED_SCHEMES)
        )
    if scheme == "memory" and not allow_memory:
        raise InvalidValue(
            "the memory:// URL scheme is not supported by this command: a memory:// docket "
            "lives inside one process; use redis:// (or rediss://)"
        )
    return url


def scrub(text: str, url: str | None) -> str:
    """``text`` with any password that ``url`` carries replaced by ``***``.

    A last line of defence for messages built by code that did not redact
    the URL itself: no password reaches the terminal.
    """
    if not url:
        return text
    secrets: set[str] = set()
    try:
        parts = urlsplit(url)
    except ValueError:
        return text
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        secrets.add(userinfo.partition(":")[2])
        secrets.add(unquote(userinfo.partition(":")[2]))
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if "password" in name:
            secrets.add(value)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def describe_error(error: BaseException, url: str | None = None) -> str:
    """One line saying what went wrong, naming the (redacted) URL for connection trouble."""
    where = redact_url(url) if url else "the docket's server"
    said = scrub(str(error), url)
    if isinstance(error, redis_errors.AuthenticationError):
        return one_line(f"cannot authenticate to {where}: {said}")
    if isinstance(error, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
        return one_line(f"cannot reach {where}: {said}")
    if isinstance(error, redis_errors.RedisError):
        return one_line(f"{where} refused a command: {type(error).__name__}: {said}")
    if isinstance(error, (ConnectionError, TimeoutError)):
        return one_line(f"cannot reach {where}: {said}")
    if isinstance(
        error, (CLIError, ValueError, TypeError, ImportError, LookupError, AttributeError)
    ):
        return one_line(said or type(error).__name__)
    return one_line(f"{type(error).__name__}: {said}")


def exit_with_error(message: str, exit_code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    typer.echo(f"error: {one_line(message)}", err=True)
    return typer.Exit(exit_code)


def run(work: Callable[[], Coroutine[Any, Any, T]], *, url: str | None = None) -> T:
    """Run ``work()`` in a fresh ``docket.event_loop`` loop, turning any failure into one line and an exit.

    Unexpected errors are logged with their traceback at DEBUG on
    ``docket.cli`` (visible with ``--logging-level DEBUG``), then reported
    as one line like the rest.
    """
    try:
        return event_loop.run(work())
    except typer.Exit:
        raise
    except CLIError as error:
        raise exit_with_error(scrub(str(error), url), error.exit_code) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as error:
        logger.debug("Command failed", exc_info=error)
        raise exit_with_error(describe_error(error, url)) from None


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr); wide when piped, so tables are not cut short."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=PIPED_WIDTH)
    return console


@asynccontextmanager
async def open_docket(
    name: str,
    url: str,
    *,
    tasks: Iterable[Callable[..., Any]] = (),
    allow_memory: bool = False,
    enable_internal_instrumentation: bool = False,
    label: str = "--url",
) -> AsyncIterator[Docket]:
    """Open docket ``name`` at ``url`` with ``tasks`` registered, or raise one-line errors."""
    check_url(url, allow_memory=allow_memory, label=label)
    try:
        docket = Docket(
            name=name, url=url, enable_internal_instrumentation=enable_internal_instrumentation
        )
    except ValueError as error:
        # The engine registry refuses what it cannot open, such as a sentinel
        # URL without a service.
        raise InvalidValue(
            f"cannot open docket {name!r} at {redact_url(url)!r}: {scrub(str(error), url)}"
        ) from None
    for function in tasks:
        docket.register(function)
    async with docket:
        yield docket
