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
from urllib.parse import urlsplit

import typer
from redis import exceptions as redis_errors
from rich.console import Console

from docket import event_loop
from docket.docket import Docket
from docket.engines import SUPPORTED_SCHEMES
from docket.engines.redis import cluster, sentinel
from docket.urls import redact_url

__all__ = [
    "CLIError",
    "check_url",
    "describe_error",
    "make_console",
    "open_docket",
    "redact_url",
    "run",
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


def one_line(text: str) -> str:
    """``text`` with its whitespace (newlines included) collapsed to single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def check_url(url: str, *, allow_memory: bool) -> str:
    """Validate a docket URL before connecting; return it unchanged.

    ``memory://`` dockets live inside one process, so only commands that run
    work in this process (``worker``) or may be pointed at one for a demo
    (``watch``) accept them.
    """
    if "://" not in url:
        raise CLIError(
            f"invalid --url {redact_url(url)!r}: expected scheme://..., one of "
            + ", ".join(s + "://" for s in SUPPORTED_SCHEMES)
        )
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() == sentinel.SCHEME:
            sentinel.parse_sentinel_url(url)
        elif parts.scheme.lower() == cluster.SCHEME:
            cluster.parse_cluster_url(url)
        else:
            parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as error:
        raise CLIError(f"invalid --url {redact_url(url)!r}: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise CLIError(
            f"invalid --url {redact_url(url)!r}: scheme {scheme!r} is not supported; use one of "
            + ", ".join(s + "://" for s in SUPPORTED_SCHEMES)
        )
    if scheme == "memory" and not allow_memory:
        raise CLIError(
            "the memory:// URL scheme is not supported by this command: a memory:// docket "
            "lives inside one process; use redis:// (or rediss://)"
        )
    return url


def describe_error(error: BaseException, url: str | None = None) -> str:
    """One line saying what went wrong, naming the (redacted) URL for connection trouble."""
    where = redact_url(url) if url else "the docket's server"
    if isinstance(error, redis_errors.AuthenticationError):
        return one_line(f"cannot authenticate to {where}: {error}")
    if isinstance(error, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
        return one_line(f"cannot reach {where}: {error}")
    if isinstance(error, redis_errors.RedisError):
        return one_line(f"{where} refused a command: {type(error).__name__}: {error}")
    if isinstance(error, (ConnectionError, TimeoutError)):
        return one_line(f"cannot reach {where}: {error}")
    if isinstance(error, (CLIError, ValueError, TypeError, ImportError, LookupError)):
        return one_line(str(error) or type(error).__name__)
    return one_line(f"{type(error).__name__}: {error}")


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
        raise exit_with_error(str(error), error.exit_code) from None
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
) -> AsyncIterator[Docket]:
    """Open docket ``name`` at ``url`` with ``tasks`` registered, or raise one-line errors."""
    check_url(url, allow_memory=allow_memory)
    docket = Docket(name=name, url=url)
    for function in tasks:
        docket.register(function)
    async with docket:
        yield docket
