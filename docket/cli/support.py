"""What every command shares: one-line errors, running a coroutine, consoles, opening a docket.

A command raises ``CLIError`` (or lets a library or connection error escape);
``run`` turns any of them into one ``error: ...`` line on stderr and a
non-zero exit, never a traceback.  ``open_docket`` is the one way commands
connect, so URL checks and task registration behave the same everywhere.
What a URL may be and what an engine's errors mean, the engine registry
(``docket.engines``) says; no command imports an engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console

from docket.cli import event_loop
from docket.cli.signing import signing_key
from docket.docket import Docket
from docket.engines import SCHEMES, scheme_list, scheme_of, storage_error
from docket.engines import check_url as check_engine_url
from docket.errors import InvalidURL, StorageError
from docket.urls import redact_url, scrub

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
    """Validate a docket URL before connecting; return it unchanged.

    The engine registry checks everything it can without connecting (see
    ``docket.engines.check_url``).  A docket with no server (``memory://``)
    lives inside one process, so only commands that run work in this
    process (``worker``) or may be pointed at one for a demo (``watch``)
    accept one.  Errors name the URL as ``label`` (the option, or a
    parameter).
    """
    try:
        check_engine_url(url, label=label)
    except InvalidURL as error:
        raise InvalidValue(str(error)) from None
    scheme = scheme_of(url)
    if scheme is not None and not scheme.server and not allow_memory:
        shared = scheme_list(s for s in SCHEMES if not s.in_process)
        raise InvalidValue(
            f"the {scheme.name}:// URL scheme is not supported by this command: "
            f"a {scheme.name}:// docket lives inside one process; use one of {shared}"
        )
    return url


def describe_error(error: BaseException, url: str | None = None) -> str:
    """One line saying what went wrong, naming the (redacted) URL for connection trouble."""
    said = scrub(str(error), url)
    translated = storage_error(error, url)
    if translated is not None:
        return one_line(str(translated))
    if isinstance(error, StorageError):
        return one_line(said)
    if isinstance(error, (ConnectionError, TimeoutError)):
        where = redact_url(url) if url else "the docket's server"
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


def run(
    work: Callable[[], Coroutine[Any, Any, T]],
    *,
    url: str | None = None,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Run ``work()`` in a fresh ``docket.cli.event_loop`` loop, turning any failure into one line and an exit.

    ``loop_factory`` builds another loop instead (``docket worker --loop``).

    Unexpected errors are logged with their traceback at DEBUG on
    ``docket.cli`` (visible with ``--logging-level DEBUG``), then reported
    as one line like the rest.
    """
    try:
        return event_loop.run(work(), loop_factory)
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
            name=name,
            url=url,
            enable_internal_instrumentation=enable_internal_instrumentation,
            signing_key=signing_key(),
        )
    except ValueError as error:
        # The URL was checked above; what is left is the Docket's own
        # refusal, such as a name with braces.
        raise InvalidValue(
            f"cannot open docket {name!r} at {redact_url(url)!r}: {scrub(str(error), url)}"
        ) from None
    for function in tasks:
        docket.register(function)
    async with docket:
        yield docket
