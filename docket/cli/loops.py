"""Which event loop ``docket worker --loop auto|asyncio|uvloop`` runs on.

``asyncio`` is ``docket.cli.event_loop``'s loop: asyncio's own, with timer
waits that end when the timer is due rather than at the next whole
millisecond (on Linux; asyncio's default elsewhere).  ``uvloop`` is uvloop's
loop (the ``pydocket[uvloop]`` extra).  uvloop keeps its timers in whole
milliseconds inside libuv and never goes through CPython's selector, so the
correction cannot apply to it; ``benchmarks/README.md`` has the figures for
each.  ``auto`` (the default) is uvloop when it is installed and docket's
asyncio loop when it is not.  Asking for ``uvloop`` without it installed is an
error naming the extra, never a silent fallback.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import Annotated

import typer

from docket.cli import event_loop

__all__ = [
    "UVLOOP_EXTRA",
    "LoopChoice",
    "LoopOption",
    "loop_factory",
    "loop_name",
    "uvloop_installed",
]

UVLOOP_EXTRA = "pydocket[uvloop]"
"""The extra that installs uvloop."""

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class LoopChoice(str, enum.Enum):
    """The values of ``--loop``."""

    AUTO = "auto"
    ASYNCIO = "asyncio"
    UVLOOP = "uvloop"


LoopOption = Annotated[
    LoopChoice,
    typer.Option(
        "--loop",
        envvar="DOCKET_WORKER_LOOP",
        case_sensitive=False,
        help=(
            "The event loop to run on: uvloop (install pydocket[uvloop]), asyncio "
            "(docket's, with epoll timer waits rounded once), or auto: uvloop when it "
            "is installed, else asyncio."
        ),
    ),
]


def uvloop_installed() -> bool:
    """Whether uvloop can be imported here."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _uvloop_factory(option: str) -> LoopFactory:
    try:
        import uvloop
    except ImportError as error:
        raise ValueError(
            f"{option} uvloop needs uvloop, which is not installed: "
            f"install {UVLOOP_EXTRA} (or choose {option} asyncio) ({error})"
        ) from None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def loop_factory(choice: LoopChoice | str, option: str = "--loop") -> LoopFactory:
    """The function that builds the event loop ``choice`` names.

    ValueError naming ``option`` and the value for a choice that is none of
    ``auto``, ``asyncio`` or ``uvloop``, and naming the extra to install for
    ``uvloop`` when uvloop is missing.
    """
    try:
        chosen = LoopChoice(choice)
    except ValueError:
        options = ", ".join(c.value for c in LoopChoice)
        raise ValueError(f"invalid {option} {choice!r}: expected one of {options}") from None
    if chosen is LoopChoice.UVLOOP or (chosen is LoopChoice.AUTO and uvloop_installed()):
        return _uvloop_factory(option)
    return event_loop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: what a log line says the worker runs on."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
