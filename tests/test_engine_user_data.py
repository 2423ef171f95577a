"""The user's own data beside a docket, on every engine: ``user_key`` and ``redis()``.

On Redis targets the data is on the docket's server; on ``memory://`` it is
on an in-process fakeredis server shared like the memory store.
"""

from __future__ import annotations

from functools import cached_property

import pytest

from docket.engines import layout, memory, open_engine
from docket.engines.base import Engine
from docket.engines.memory import MemoryEngine
from docket.engines.redis import RedisEngine
from docket.engines.redis.keys import DocketKeys
from tests.conftest import EngineFactory
from tests.test_engine_contract import at, claim_keys, message

# --- user_key ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["x", "runs", "my:key", "results:abc", "{tag}", "Stream", "é"])
async def test_user_key_is_the_suffix_under_the_dockets_prefix(engine: Engine, suffix: str) -> None:
    assert engine.user_key(suffix) == "{" + engine.name + "}:" + suffix


REFUSED: list[object] = [
    "",
    None,
    5,
    b"x",
    *layout.SYSTEM_KEYS,
    "runs:",
    "runs:x",
    "gates:g",
    "debounce:g",
    "slots:g",
    "parked:g",
]


@pytest.mark.parametrize("suffix", REFUSED, ids=repr)
async def test_user_key_refuses_non_strings_and_the_dockets_own_keys(
    engine: Engine, suffix: object
) -> None:
    with pytest.raises(ValueError) as raised:
        engine.user_key(suffix)  # type: ignore[arg-type]
    assert repr(suffix) in str(raised.value)


def test_every_redis_key_of_a_docket_is_refused_as_a_user_key() -> None:
    keys = DocketKeys("d")
    own = [
        *keys.system_keys(),
        keys.record("task"),
        keys.gate("g"),
        keys.debounce("g"),
        keys.slots("g"),
        keys.parked("g"),
    ]
    for key in own:
        assert key.startswith(keys.prefix)
        with pytest.raises(ValueError):
            layout.user_key("d", key[len(keys.prefix) :])
    # Every fixed key DocketKeys names is listed in the layout.
    channels = {"prefix", "strike_channel", "cancellation_channel", "runs_prefix", "events_prefix"}
    fixed = [
        getattr(keys, name)
        for name, value in vars(DocketKeys).items()
        if isinstance(value, (property, cached_property)) and name not in channels
    ]
    assert sorted(fixed) == sorted(keys.system_keys())


# --- redis() -------------------------------------------------------------------------


async def test_redis_client_round_trips_bytes(engine: Engine) -> None:
    key, counter, fields = (engine.user_key(s) for s in ("greeting", "counter", "fields"))
    async with engine.redis() as r:
        assert await r.set(key, b"\x00hello\xff", ex=3600) is True
        assert await r.get(key) == b"\x00hello\xff"
        assert 0 < await r.ttl(key) <= 3600
        assert await r.expire(key, 60) is True
        await r.hset(fields, mapping={"a": "1", "b": "2"})
        assert await r.hgetall(fields) == {b"a": b"1", b"b": b"2"}
        async with r.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.incrby(counter, 5)
            pipe.get(counter)
            assert await pipe.execute() == [1, 6, b"6"]
        assert await r.delete(key, counter) == 2
        assert await r.get(key) is None


async def test_redis_data_is_shared_by_name_and_kept_apart_between_names(
    engine_factory: EngineFactory,
) -> None:
    writer = await engine_factory("orders")
    reader = await engine_factory("orders")
    stranger = await engine_factory("billing")

    async with writer.redis() as r:
        await r.set(writer.user_key("x"), b"orders' data")

    async with reader.redis() as r:
        assert await r.get(reader.user_key("x")) == b"orders' data"
    async with stranger.redis() as r:
        assert await r.get(stranger.user_key("x")) is None
        if isinstance(stranger, MemoryEngine):
            # Each memory docket has a server of its own.
            assert await r.get(writer.user_key("x")) is None


async def test_redis_data_leaves_the_docket_alone(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    async with engine.redis() as r:
        await r.set(engine.user_key("k"), b"mine")
        # Closing the user's client leaves the engine's connections open.
        await r.aclose()
    assert await claim_keys(engine, at(0)) == ["k"]
    async with engine.redis() as r:
        assert await r.get(engine.user_key("k")) == b"mine"


async def test_redis_data_is_on_the_dockets_server(engine: Engine) -> None:
    if not isinstance(engine, RedisEngine):
        pytest.skip("the memory engine's user data has no server of its own")
    async with engine.redis() as r:
        await r.set(engine.user_key("seen"), b"yes")
    raw = engine._session.clients.commands
    assert await raw.get("{" + engine.name + "}:seen") == b"yes"


def test_memory_user_data_lives_as_long_as_the_store() -> None:
    import asyncio

    url, name = "memory://user-data-life", "d"

    async def write_then_read() -> tuple[bytes | None, bytes | None]:
        first = MemoryEngine.for_url(url, name)
        async with first.redis() as r:
            await r.set(first.user_key("x"), b"kept")
        async with MemoryEngine.for_url(url, name).redis() as r:
            kept = await r.get(first.user_key("x"))
        memory.discard_store(url, name)
        async with MemoryEngine.for_url(url, name).redis() as r:
            gone = await r.get(first.user_key("x"))
        return kept, gone

    # Each run has an event loop of its own; the data outlives the first.
    assert asyncio.run(write_then_read()) == (b"kept", None)
    memory.discard_store(url, name)


async def test_redis_client_needs_an_open_engine_and_hides_the_password() -> None:
    engine = open_engine("redis://user:s3cret@127.0.0.1:1/0", "closed")
    assert "s3cret" not in repr(engine)
    with pytest.raises(RuntimeError) as raised:
        async with engine.redis():
            pass
    assert "s3cret" not in str(raised.value) and "not open" in str(raised.value)
