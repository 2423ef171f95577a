"""Subscriptions of one Redis engine share one pub/sub connection.

Each channel is subscribed once however many listen to it, every listener gets
every message of its channel, the last one out unsubscribes, and neither a
closed engine nor a lost connection leaves a listener waiting forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone

import pytest
import redis.asyncio as aredis

from docket.engines.base import Event, StateChange, TaskMessage
from docket.engines.redis import RedisEngine
from docket.states import ExecutionState
from tests import test_redis_engine

# The fixtures of the engine tests: engines on a real redis-server and on fakeredis.
make = test_redis_engine.make
engine = test_redis_engine.engine
real = test_redis_engine.real

GUARD = 10.0
T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


def message(key: str) -> TaskMessage:
    return TaskMessage(key=key, function_name="f", payload=b"p", when=T0)


async def next_event(events: AsyncIterator[Event]) -> Event:
    return await asyncio.wait_for(events.__anext__(), GUARD)


async def numsub(engine: RedisEngine, key: str) -> int:
    channel = engine.keys.channel(key)
    [(_, count)] = await engine._session.clients.commands.pubsub_numsub(channel)
    return int(count)


async def pubsub_connections(url: str) -> int:
    client = aredis.Redis.from_url(url)
    try:
        return sum(1 for c in await client.client_list() if int(c.get("sub", 0)) > 0)
    finally:
        await client.aclose()


async def test_many_subscriptions_share_one_connection(
    real: RedisEngine, redis_server_url: str
) -> None:
    before = await pubsub_connections(redis_server_url)
    keys = [f"k{i}" for i in range(40)]
    async with AsyncExitStack() as stack:
        streams = await asyncio.gather(
            *(stack.enter_async_context(real.subscribe(k)) for k in keys)
        )
        assert await pubsub_connections(redis_server_url) == before + 1
        for key in keys:
            await real.schedule(message(key), T0, replace=False)
        for key, events in zip(keys, streams, strict=True):
            event = await next_event(events)
            # Each listener hears its own key only.
            assert isinstance(event, StateChange) and event.key == key
            assert event.state is ExecutionState.QUEUED


async def test_listeners_of_one_channel_each_get_every_event(engine: RedisEngine) -> None:
    async with engine.subscribe("k") as first, engine.subscribe("k") as second:
        assert await numsub(engine, "k") == 1
        await engine.schedule(message("k"), T0, replace=False)
        assert (await next_event(first)) == (await next_event(second))
        async with engine.subscribe("k") as third:
            await engine.cancel("k", T0, timedelta(minutes=1))
            seen = [await next_event(events) for events in (first, second, third)]
        assert all(isinstance(e, StateChange) and e.state is ExecutionState.CANCELLED for e in seen)
        # The third left; the channel stays subscribed for the other two.
        assert await numsub(engine, "k") == 1
        await engine.schedule(message("k"), T0, replace=False)
        assert isinstance(await next_event(first), StateChange)
    for _ in range(200):
        if await numsub(engine, "k") == 0:
            break
        await asyncio.sleep(0.005)
    assert await numsub(engine, "k") == 0


async def test_subscribing_again_after_leaving_hears_new_events(engine: RedisEngine) -> None:
    for round in range(3):
        async with engine.subscribe("k") as events:
            await engine.schedule(message("k"), T0, replace=True)
            event = await next_event(events)
            assert isinstance(event, StateChange) and event.state is ExecutionState.QUEUED, round


async def test_concurrent_subscribes_to_one_channel_are_all_live_on_entry(
    engine: RedisEngine,
) -> None:
    async with AsyncExitStack() as stack:
        streams = await asyncio.gather(
            *(stack.enter_async_context(engine.subscribe("k")) for _ in range(5))
        )
        await engine.schedule(message("k"), T0, replace=False)
        for events in streams:
            assert isinstance(await next_event(events), StateChange)


async def test_a_subscribe_cancelled_on_entry_leaves_nothing_behind(engine: RedisEngine) -> None:
    entering = asyncio.ensure_future(engine.subscribe("k").__aenter__())
    await asyncio.sleep(0)
    entering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await entering
    async with engine.subscribe("k") as events:
        await engine.schedule(message("k"), T0, replace=False)
        assert isinstance(await next_event(events), StateChange)


async def test_closing_the_engine_ends_its_listeners(
    engine: RedisEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async with engine.subscribe("k") as events:
        waiting = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.01)
        await engine.close()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(waiting, GUARD)
    # A deliberate close is not reported as a lost connection.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_lost_connection_ends_its_listeners_and_the_next_subscription_reconnects(
    real: RedisEngine, redis_server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with real.subscribe("k") as events:
        waiting = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.01)
        client = aredis.Redis.from_url(redis_server_url)
        try:
            await client.client_kill_filter(_type="pubsub")
        finally:
            await client.aclose()
        with pytest.raises(aredis.ConnectionError):
            await asyncio.wait_for(waiting, GUARD)
    assert "lost their Redis connection" in caplog.text
    async with real.subscribe("k") as events:
        await real.schedule(message("k"), T0, replace=False)
        assert isinstance(await next_event(events), StateChange)


async def test_nothing_is_kept_for_channels_nobody_listens_to(engine: RedisEngine) -> None:
    # A process waits on the results of ever new keys: what it keeps per
    # channel must go when the channel's last listener does.
    for i in range(50):
        async with engine.subscribe(f"k{i}"):
            pass
    async with engine.subscribe("last") as events:
        await engine.schedule(message("last"), T0, replace=False)
        assert isinstance(await next_event(events), StateChange)
        channels = engine._session._channels
        assert channels is not None and channels._connection is not None
        assert list(channels._connection.listeners) == [engine.keys.channel("last").encode()]
        assert not channels._connection.confirmations
