"""The event loop docket's own commands run on: asyncio's, with timer waits that end on time.

asyncio waits for its next timer with ``epoll_wait``, which counts whole
milliseconds.  CPython's ``selectors.EpollSelector`` rounds the wait up to
whole milliseconds, so a timer wakes the loop up to a millisecond late
whenever the loop last waited at a time that was not a whole number of
milliseconds before it: for a worker whose runs start at staggered moments,
that is almost every wait.  Worse, it rounds with
``math.ceil(timeout * 1e3) * 1e-3`` and passes that float to
``select.epoll.poll``, which rounds it up to milliseconds again; for about one
whole-millisecond value in nine the float is a hair above the value it stands
for (``9 * 1e-3`` is ``0.009000000000000001``), and the second rounding adds a
whole millisecond more.  Every CPython from 3.6 to 3.13 does both.

For a worker running short timed tasks those late wakes are a measurable share
of its throughput (``benchmarks/loop_rounding.py`` and ``benchmarks/throughput.py``
measure it; the figures are in ``benchmarks/README.md``).  ``new_event_loop``
builds a standard ``asyncio.SelectorEventLoop`` whose selector
(``PreciseTimerEpollSelector``) waits the whole milliseconds of a timed wait
with ``epoll_wait`` and the fraction of a millisecond left with ``select.select``
on the epoll descriptor, which counts microseconds and is readable as soon as
any watched descriptor is; it then collects the events with a non-blocking
``epoll_wait``.  Should the epoll descriptor be beyond what ``select`` can watch,
the selector falls back to ``epoll_wait`` alone, rounded up to whole
milliseconds once (``WholeMillisecondEpoll``).  Nothing else about the loop
changes.  Where epoll is not the default selector (macOS, Windows) it is
asyncio's default loop, unchanged.

``run`` is ``asyncio.run`` on that loop (or on another loop factory's, as
``docket worker --loop`` chooses: see ``loops``).  Every ``docket`` command
uses it.  Applications that run a Worker on their own loop
can pass ``new_event_loop`` as a loop factory (``asyncio.Runner`` on 3.11+).
"""

from __future__ import annotations

import asyncio
import math
import select
import selectors
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

__all__ = [
    "PreciseTimerEpollSelector",
    "WholeMillisecondEpoll",
    "epoll_timeout_for",
    "new_event_loop",
    "run",
]

T = TypeVar("T")

# A timeout this close above a whole millisecond is float noise from the
# selector's own ``* 1e-3``, not a request to wait into the next millisecond.
_NOISE_MS = 1e-6


def epoll_timeout_for(timeout: float) -> float:
    """The float of seconds that ``select.epoll.poll`` turns into the intended whole milliseconds.

    ``timeout`` is in seconds.  A negative one (block) or zero (do not block)
    is returned as it is.  A positive one is rounded up to whole milliseconds,
    ignoring float noise below a nanosecond, and returned as the largest float
    that ``epoll.poll`` converts to exactly that many milliseconds: it takes
    nanoseconds rounding up, then milliseconds rounding up.
    """
    if timeout <= 0:
        return timeout
    milliseconds = math.ceil(timeout * 1e3 - _NOISE_MS)
    seconds = milliseconds / 1e3
    # k / 1000 is the nearest float to k ms, but for some k it is a hair above,
    # and epoll.poll would round those nanoseconds up into one more millisecond.
    while math.ceil(seconds * 1e9) > milliseconds * 1_000_000:
        seconds = math.nextafter(seconds, 0.0)
    return seconds


class _Epoll(Protocol):
    """What the selector uses of ``select.epoll``."""

    def poll(self, timeout: float | None = ..., maxevents: int = ...) -> list[tuple[int, int]]: ...
    def register(self, fd: Any, eventmask: int = ...) -> None: ...
    def modify(self, fd: Any, eventmask: int) -> None: ...
    def unregister(self, fd: Any) -> None: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...


class WholeMillisecondEpoll:
    """A ``select.epoll`` whose ``poll`` waits the whole milliseconds it is asked for, not one more.

    ``select.epoll`` cannot be subclassed, so this wraps one and passes every
    call through; ``poll`` first corrects its timeout with ``epoll_timeout_for``.
    """

    def __init__(self, epoll: _Epoll | None = None) -> None:
        self._epoll: _Epoll = epoll if epoll is not None else select.epoll()

    def poll(self, timeout: float | None = -1, maxevents: int = -1) -> list[tuple[int, int]]:
        """Wait for events, for ``timeout`` seconds rounded up to whole milliseconds once."""
        if timeout is not None:
            timeout = epoll_timeout_for(timeout)
        return self._epoll.poll(timeout, maxevents)

    def register(self, fd: Any, eventmask: int = select.EPOLLIN | select.EPOLLOUT) -> None:
        """Watch ``fd`` for ``eventmask``."""
        self._epoll.register(fd, eventmask)

    def modify(self, fd: Any, eventmask: int) -> None:
        """Watch ``fd`` for ``eventmask`` instead."""
        self._epoll.modify(fd, eventmask)

    def unregister(self, fd: Any) -> None:
        """Stop watching ``fd``."""
        self._epoll.unregister(fd)

    def fileno(self) -> int:
        """The epoll file descriptor."""
        return self._epoll.fileno()

    def close(self) -> None:
        """Close the epoll file descriptor."""
        self._epoll.close()


def _selector_class() -> type[selectors.BaseSelector] | None:
    """The precise selector, or None where epoll is not asyncio's default.

    Its fallback relies on ``_PollLikeSelector`` building its poll object from
    the class attribute ``_selector_cls``, as CPython 3.10 to 3.13 do; on a
    CPython that does not, docket keeps asyncio's own loop rather than guess.
    """
    epoll_selector = getattr(selectors, "EpollSelector", None)
    if epoll_selector is None or selectors.DefaultSelector is not epoll_selector:
        return None
    if getattr(epoll_selector, "_selector_cls", None) is not select.epoll:
        return None
    return PreciseTimerEpollSelector


if hasattr(selectors, "EpollSelector"):

    class PreciseTimerEpollSelector(selectors.EpollSelector):
        """``selectors.EpollSelector`` whose timed waits last as long as asked, to the microsecond.

        ``select(timeout)`` with a positive ``timeout`` waits with ``epoll_wait``
        for the whole milliseconds of it, and returns at once if any event came.
        If none did, it waits the rest (the fraction of a millisecond) with
        ``select.select`` on the epoll descriptor itself, which counts
        microseconds and is readable once any registered descriptor has an
        event, and then collects those events with a non-blocking
        ``epoll_wait``.  So a wait that ends on I/O costs the one system call
        it always did, and one that ends on its timer ends on time rather
        than at the next whole millisecond.  A wait that ends on its timeout
        returns no events, as ``EpollSelector`` does; a blocking (``None``)
        or non-blocking (``0``) select is ``EpollSelector``'s.  If
        ``select.select`` cannot watch the descriptor (a number at or above
        ``FD_SETSIZE``), every later wait is ``epoll_wait``'s, rounded up to
        whole milliseconds once.
        """

        _selector_cls = WholeMillisecondEpoll
        _precise_waits = True

        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            """The registered descriptors that are ready, waiting at most ``timeout`` seconds."""
            if timeout is None or timeout <= 0 or not self._precise_waits:
                return super().select(timeout)
            whole_ms = math.floor(timeout * 1e3 + _NOISE_MS)
            rest = timeout - whole_ms / 1e3
            if whole_ms > 0:
                # A hair under whole_ms, which the selector rounds up to exactly whole_ms.
                ready = super().select((whole_ms - _NOISE_MS) / 1e3)
                if ready or rest <= _NOISE_MS / 1e3:
                    return ready
            elif rest <= _NOISE_MS / 1e3:
                return super().select(0)
            try:
                readable, _, _ = select.select([self.fileno()], [], [], rest)
            except ValueError:
                # Beyond FD_SETSIZE: select() cannot watch it, epoll_wait can.
                self._precise_waits = False
                return super().select(rest)
            return super().select(0) if readable else []

else:  # pragma: no cover - platforms without epoll use asyncio's default loop

    class PreciseTimerEpollSelector(selectors.DefaultSelector):  # type: ignore[no-redef]
        """asyncio's default selector: this platform has no epoll to correct."""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new asyncio event loop; on Linux, one whose timers wake it when they are due, not up to
    a millisecond later."""
    selector_class = _selector_class()
    if selector_class is None:
        return asyncio.new_event_loop()
    return asyncio.SelectorEventLoop(selector_class())


def run(
    main: Coroutine[Any, Any, T],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Run ``main`` to completion on a loop from ``loop_factory`` (``new_event_loop`` unless
    given), as ``asyncio.run`` does."""
    factory = loop_factory or new_event_loop
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    return _run_without_runner(main, factory)


def _run_without_runner(
    main: Coroutine[Any, Any, T],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = new_event_loop,
) -> T:
    """``asyncio.run`` for Python 3.10, which has neither ``asyncio.Runner`` nor a loop factory."""
    loop = loop_factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_remaining_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_remaining_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what ``main`` left running and report any that failed, as ``asyncio.run`` does."""
    remaining = asyncio.all_tasks(loop)
    if not remaining:
        return
    for task in remaining:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*remaining, return_exceptions=True))
    for task in remaining:
        if task.cancelled():
            continue
        if task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during docket.cli.event_loop.run() shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )
