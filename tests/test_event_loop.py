"""docket.cli.event_loop: asyncio's loop with timer waits that end on time.

A timed wait goes to ``select.select`` on the epoll descriptor with the
timeout asyncio asked for, unrounded; only where that descriptor is beyond
``select``'s reach does it fall back to epoll_wait's whole milliseconds.
``epoll_milliseconds`` below is how ``select.epoll.poll`` turns its float of
seconds into epoll_wait's milliseconds (CPython's selectmodule.c): nanoseconds
rounding up, then milliseconds rounding up.  The tests check the timeouts
docket hands each call against those rules; none of them times a wait.
"""

from __future__ import annotations

import asyncio
import math
import select
import selectors
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docket.cli import event_loop, support
from docket.cli.event_loop import (
    PreciseTimerEpollSelector,
    WholeMillisecondEpoll,
    epoll_timeout_for,
    new_event_loop,
)

linux_epoll = pytest.mark.skipif(
    getattr(selectors, "EpollSelector", None) is not selectors.DefaultSelector,
    reason="epoll is not asyncio's default selector here",
)


def epoll_milliseconds(seconds: float) -> int:
    """The milliseconds epoll_wait gets from ``select.epoll.poll(seconds)``, for seconds > 0."""
    nanoseconds = math.ceil(seconds * 1e9)
    return -(-nanoseconds // 1_000_000)


def stock_selector_timeout(seconds: float) -> float:
    """What ``selectors.EpollSelector.select`` passes to ``epoll.poll`` for ``seconds`` > 0."""
    return math.ceil(seconds * 1e3) * 1e-3


class RecordingEpoll:
    """Stands in for ``select.epoll``: records each poll's timeout and reports no events."""

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []
        self.closed = False

    def poll(self, timeout: float | None = -1, maxevents: int = -1) -> list[tuple[int, int]]:
        self.timeouts.append(timeout)
        return []

    def register(self, fd: Any, eventmask: int = 0) -> None:
        raise AssertionError("not used here")

    def modify(self, fd: Any, eventmask: int) -> None:
        raise AssertionError("not used here")

    def unregister(self, fd: Any) -> None:
        raise AssertionError("not used here")

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        self.closed = True


def test_the_stock_selector_waits_an_extra_millisecond_for_some_waits() -> None:
    # The defect this module exists for: 8.5 ms becomes 9 ms, then 10.
    assert stock_selector_timeout(0.0085) == 0.009000000000000001
    assert epoll_milliseconds(stock_selector_timeout(0.0085)) == 10
    over_rounded = [
        k for k in range(1, 1001) if epoll_milliseconds(stock_selector_timeout(k / 1e3)) > k
    ]
    assert 9 in over_rounded and len(over_rounded) > 100


def test_every_whole_millisecond_the_selector_asks_for_is_waited_exactly() -> None:
    for milliseconds in range(1, 200_001):
        # What the selector passes once it has rounded a wait up to this many ms.
        asked = milliseconds * 1e-3
        assert epoll_milliseconds(epoll_timeout_for(asked)) == milliseconds, milliseconds


@given(st.floats(min_value=1e-9, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_a_positive_timeout_is_rounded_up_to_whole_milliseconds_once(seconds: float) -> None:
    waited = epoll_milliseconds(epoll_timeout_for(seconds))
    # Never shorter than asked, beyond float noise below a nanosecond ...
    assert waited >= seconds * 1e3 - 1e-6
    # ... and never a whole millisecond longer.
    assert waited < seconds * 1e3 + 1


@pytest.mark.parametrize("timeout", [-1.0, -0.5, 0.0])
def test_blocking_and_non_blocking_timeouts_pass_through(timeout: float) -> None:
    assert epoll_timeout_for(timeout) == timeout


def test_float_noise_above_a_millisecond_does_not_add_one() -> None:
    assert epoll_milliseconds(epoll_timeout_for(0.009000000000000001)) == 9
    assert epoll_milliseconds(epoll_timeout_for(0.0090001)) == 10


class RecordingSelect:
    """Stands in for ``select.select``: records each call, then reports ``readable`` or raises."""

    def __init__(self, readable: bool = False, error: Exception | None = None) -> None:
        self.calls: list[tuple[list[int], float]] = []
        self.readable = readable
        self.error = error

    def __call__(
        self, rlist: list[int], wlist: list[int], xlist: list[int], timeout: float
    ) -> tuple[list[int], list[int], list[int]]:
        assert wlist == [] and xlist == []
        self.calls.append((rlist, timeout))
        if self.error is not None:
            raise self.error
        return (rlist if self.readable else []), [], []


def recorded_selector(
    monkeypatch: pytest.MonkeyPatch, waits: RecordingSelect
) -> tuple[RecordingEpoll, PreciseTimerEpollSelector]:
    """A selector over a ``RecordingEpoll``, with ``waits`` standing in for ``select.select``."""
    recording = RecordingEpoll()
    monkeypatch.setattr(select, "select", waits)

    class Recorded(PreciseTimerEpollSelector):
        _selector_cls = staticmethod(lambda: WholeMillisecondEpoll(recording))  # type: ignore[assignment]

    return recording, Recorded()


def test_a_timed_wait_waits_whole_milliseconds_on_epoll_then_the_rest_on_select(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits = RecordingSelect(readable=False)
    recording, selector = recorded_selector(monkeypatch, waits)
    assert selector.select(0.0085) == []
    [whole] = recording.timeouts
    assert whole is not None and epoll_milliseconds(whole) == 8
    [(watched, rest)] = waits.calls
    assert watched == [selector.fileno()]
    assert rest == pytest.approx(0.0005, abs=1e-12)
    selector.close()


def test_a_wait_shorter_than_a_millisecond_goes_to_select_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits = RecordingSelect(readable=True)
    recording, selector = recorded_selector(monkeypatch, waits)
    selector.select(2.5e-4)
    assert waits.calls == [([selector.fileno()], 2.5e-4)]
    # select() saw an event: epoll collects it without blocking.
    assert recording.timeouts == [0]
    selector.close()


@pytest.mark.parametrize("milliseconds", [1, 9, 10, 250, 86_400_000])
def test_a_whole_millisecond_wait_is_epolls_alone_and_exact(
    monkeypatch: pytest.MonkeyPatch, milliseconds: int
) -> None:
    waits = RecordingSelect()
    recording, selector = recorded_selector(monkeypatch, waits)
    selector.select(milliseconds / 1e3)
    # Float noise a hair above the whole milliseconds is not a fraction to wait.
    selector.select(math.nextafter(milliseconds / 1e3, 1.0))
    assert waits.calls == []
    assert [epoll_milliseconds(t) for t in recording.timeouts if t is not None] == [
        milliseconds,
        milliseconds,
    ]
    selector.close()


def test_blocking_and_non_blocking_selects_go_straight_to_epoll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits = RecordingSelect()
    recording, selector = recorded_selector(monkeypatch, waits)
    selector.select(None)
    selector.select(0)
    selector.select(-1)
    selector.select(1e-13)
    assert waits.calls == []
    assert recording.timeouts == [-1, 0, 0, 0]
    selector.close()


def test_beyond_selects_reach_every_wait_is_epolls_rounded_up_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits = RecordingSelect(error=ValueError("filedescriptor out of range in select()"))
    recording, selector = recorded_selector(monkeypatch, waits)
    selector.select(0.0085)
    selector.select(0.0085)
    selector.select(None)
    selector.close()
    # select() was tried once, then never again.
    assert len(waits.calls) == 1
    whole, rest, second, blocking = recording.timeouts
    # The first wait: 8 ms, then the 0.5 ms select() could not wait, rounded up.
    assert whole is not None and epoll_milliseconds(whole) == 8
    assert rest is not None and epoll_milliseconds(rest) == 1
    assert second is not None and epoll_milliseconds(second) == 9
    assert blocking == -1
    assert recording.closed


@linux_epoll
def test_a_wait_that_ends_on_io_within_the_whole_milliseconds_never_calls_select(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_select = select.select
    calls: list[float] = []

    def counting(rlist: Any, wlist: Any, xlist: Any, timeout: float) -> Any:
        calls.append(timeout)
        return real_select(rlist, wlist, xlist, timeout)

    monkeypatch.setattr(select, "select", counting)
    selector = PreciseTimerEpollSelector()
    reader, writer = socket.socketpair()
    try:
        selector.register(reader, selectors.EVENT_READ, data="reader")
        writer.send(b"x")
        [(key, events)] = selector.select(5.0005)
        assert key.data == "reader" and events == selectors.EVENT_READ
        assert calls == []
    finally:
        selector.close()
        reader.close()
        writer.close()


@linux_epoll
def test_the_wrapped_epoll_reports_readiness_like_epoll() -> None:
    selector = PreciseTimerEpollSelector()
    reader, writer = socket.socketpair()
    try:
        selector.register(reader, selectors.EVENT_READ, data="reader")
        assert selector.select(0.001) == []
        assert selector.select(2.5e-4) == []
        writer.send(b"x")
        [(key, events)] = selector.select(2.5e-4)
        assert key.data == "reader" and events == selectors.EVENT_READ
        [(key, events)] = selector.select(1)
        assert key.data == "reader" and events == selectors.EVENT_READ
        selector.modify(reader, selectors.EVENT_READ | selectors.EVENT_WRITE, data="both")
        [(key, events)] = selector.select(1)
        assert key.data == "both"
        assert events == selectors.EVENT_READ | selectors.EVENT_WRITE
        selector.unregister(reader)
        assert selector.select(0) == []
        assert selector.fileno() >= 0
    finally:
        selector.close()
        reader.close()
        writer.close()


@linux_epoll
def test_new_event_loop_uses_the_corrected_selector() -> None:
    loop = new_event_loop()
    try:
        assert isinstance(loop, asyncio.SelectorEventLoop)
        assert isinstance(loop._selector, PreciseTimerEpollSelector)  # type: ignore[attr-defined]
    finally:
        loop.close()


def test_new_event_loop_falls_back_to_asyncio_where_epoll_is_not_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(selectors, "DefaultSelector", selectors.SelectSelector)
    loop = new_event_loop()
    try:
        assert not isinstance(getattr(loop, "_selector", None), PreciseTimerEpollSelector)
    finally:
        loop.close()


async def serve_and_echo() -> tuple[bytes, float]:
    """A TCP round trip and a timer on the running loop."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello\n")
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
    loop = asyncio.get_running_loop()
    before = loop.time()
    await asyncio.sleep(0.0085)
    return line, loop.time() - before


RUNNERS = [
    pytest.param(event_loop.run, id="run"),
    pytest.param(event_loop._run_without_runner, id="without-runner (3.10)"),
]


@pytest.mark.parametrize("run", RUNNERS)
def test_run_runs_sockets_and_timers(run: Any) -> None:
    line, slept = run(serve_and_echo())
    assert line == b"hello\n"
    assert slept >= 0.0085


@pytest.mark.parametrize("run", RUNNERS)
def test_run_raises_what_main_raises_and_closes_its_loop(run: Any) -> None:
    seen: list[asyncio.AbstractEventLoop] = []

    async def failing() -> None:
        seen.append(asyncio.get_running_loop())
        raise LookupError("from main")

    with pytest.raises(LookupError, match="from main"):
        run(failing())
    assert seen[0].is_closed()


@pytest.mark.parametrize("run", RUNNERS)
def test_run_cancels_what_main_left_running_and_finalizes_generators(run: Any) -> None:
    ended: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append("task cancelled")

    async def counting() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            ended.append("generator closed")

    async def main() -> int:
        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)
        generator = counting()
        first = await generator.__anext__()
        return first

    assert run(main()) == 1
    assert sorted(ended) == ["generator closed", "task cancelled"]


def test_the_310_run_reports_a_leftover_task_that_fails_while_cancelled() -> None:
    reported: list[dict[str, Any]] = []

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("failed while cancelled") from None

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: reported.append(context)
        )
        asyncio.get_running_loop().create_task(stubborn())
        await asyncio.sleep(0)

    event_loop._run_without_runner(main())
    [context] = reported
    assert isinstance(context["exception"], RuntimeError)


@linux_epoll
def test_every_cli_command_runs_on_the_corrected_loop() -> None:
    async def selector_class() -> type:
        return type(asyncio.get_running_loop()._selector)  # type: ignore[attr-defined]

    assert support.run(selector_class) is PreciseTimerEpollSelector


def test_epoll_is_what_cpython_builds_the_selector_from() -> None:
    # The correction hooks CPython's _PollLikeSelector._selector_cls.  Should a
    # CPython stop building its epoll that way, this fails rather than docket
    # silently falling back to the stock loop.
    if sys.platform.startswith("linux"):
        assert getattr(selectors.EpollSelector, "_selector_cls", None) is select.epoll
