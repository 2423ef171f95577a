"""``deadlines.py``: commands bounded by one timer behave as under ``asyncio.timeout``.

A command past its bound raises TimeoutError and nothing else does; a
cancellation from elsewhere stays a CancelledError; commands that end on time
leave nothing behind; and an engine on a server that never answers gives up
with TimeoutError instead of hanging its caller.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from docket.engines.redis import RedisEngine
from docket.engines.redis.connections import connect
from docket.engines.redis.deadlines import Deadlines

pytestmark = pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling is 3.11+")

BOUND = 0.05
LONG = 30.0  # far past any bound here: reaching it would be the failure


async def test_a_command_past_its_bound_raises_timeout_error() -> None:
    deadlines = Deadlines(BOUND)

    with pytest.raises(TimeoutError):
        async with deadlines.bound():
            await asyncio.sleep(LONG)

    assert not deadlines._open
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_commands_that_end_in_time_are_not_touched() -> None:
    deadlines = Deadlines(BOUND)
    for _ in range(100):
        async with deadlines.bound():
            await asyncio.sleep(0)
    assert not deadlines._open
    # The timer, when it fires, finds nothing due and nothing to cancel.
    await asyncio.sleep(BOUND * 3)
    async with deadlines.bound():
        await asyncio.sleep(0)


async def test_only_the_overdue_of_many_commands_expire() -> None:
    deadlines = Deadlines(BOUND * 4)

    async def command(seconds: float) -> str:
        async with deadlines.bound():
            await asyncio.sleep(seconds)
        return "done"

    slow = asyncio.create_task(command(LONG))
    await asyncio.sleep(BOUND * 2)
    quick = [asyncio.create_task(command(0)) for _ in range(10)]
    later_slow = asyncio.create_task(command(LONG))

    assert await asyncio.gather(*quick) == ["done"] * 10
    with pytest.raises(TimeoutError):
        await slow
    assert not later_slow.done()
    with pytest.raises(TimeoutError):
        await later_slow
    assert not deadlines._open


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(LONG)
    started = asyncio.Event()

    async def command() -> None:
        async with deadlines.bound():
            started.set()
            await asyncio.sleep(LONG)

    task = asyncio.create_task(command())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._open


async def test_a_cancellation_pending_as_the_bound_expires_stays_a_cancellation() -> None:
    deadlines = Deadlines(BOUND)
    entered = asyncio.Event()

    async def command() -> None:
        async with deadlines.bound():
            entered.set()
            try:
                await asyncio.sleep(LONG)
            finally:
                # Cancelled by the bound; cancelled from outside meanwhile.
                await asyncio.shield(asyncio.sleep(BOUND * 3))

    task = asyncio.create_task(command())
    await entered.wait()
    await asyncio.sleep(BOUND * 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nested_bounds_unwind_as_nested_timeouts() -> None:
    outer, inner = Deadlines(BOUND), Deadlines(LONG)
    inner_saw: list[type[BaseException]] = []

    with pytest.raises(TimeoutError):
        async with outer.bound():
            try:
                async with inner.bound():
                    await asyncio.sleep(LONG)
            except BaseException as error:
                inner_saw.append(type(error))
                raise

    assert inner_saw == [asyncio.CancelledError]
    assert not outer._open and not inner._open


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_an_engine_on_a_silent_server_gives_up_with_timeout_error(
    silent_server: str,
) -> None:
    engine = RedisEngine.from_url(
        f"{silent_server}?socket_timeout={BOUND}", f"silent-{uuid.uuid4().hex[:8]}"
    )
    with pytest.raises(TimeoutError):
        await engine.open()


async def test_the_urls_socket_timeout_sets_the_bound(redis_server_url: str) -> None:
    clients = connect(f"{redis_server_url}?socket_timeout=7", "{d}:stream")
    try:
        assert clients._deadlines is not None and clients._deadlines.seconds == 7
        async with clients.deadline():
            assert await clients.commands.ping()
    finally:
        await clients.close()
