"""What ``Docket.cancel_many`` costs in storage calls, and that it works on a cluster.

The semantics are pinned in ``conformance/test_cancel_many.py``.  Here: N keys
take ceil(N / chunk_size) engine calls on every engine, and on a real Redis
each of them is one EVALSHA of ``cancel.lua`` in one write to the server (the
same counting as ``test_redis_engine.py``: MONITOR for the commands a client
sends, ``send_packed_command`` for writes).  ``cancel`` is a batch of one.
On a three-master cluster a batch whose docket lives on each master cancels
running work and tells the worker, as ``cancel`` does.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from conformance.redis_server import RedisCluster
from docket import Docket
from docket.engines.redis import RedisEngine
from docket.engines.redis.scheduling import KEYS_PER_CALL
from tests.conftest import target_url
from tests.test_engine_contract import HANG_GUARD, at, message
from tests.test_redis_cluster import names_on_every_master
from tests.test_redis_engine import Writes, client_commands

TTL = timedelta(minutes=15)


@pytest.fixture(params=["memory", "redis", "fakeredis"])
async def docket(request: pytest.FixtureRequest) -> AsyncIterator[Docket]:
    unique = uuid.uuid4().hex[:10]
    async with Docket(name=f"cancels-{unique}", url=target_url(request, unique)) as opened:
        yield opened


async def noop() -> None:
    return None


def count_cancel_calls(docket: Docket) -> list[int]:
    """The number of keys of each engine ``cancel_many`` call from here on."""
    sizes: list[int] = []
    engine: Any = docket.engine
    original = engine.cancel_many

    async def counted(keys: Any, *args: Any) -> Any:
        sizes.append(len(keys))
        return await original(keys, *args)

    engine.cancel_many = counted
    return sizes


@pytest.mark.parametrize(
    ("total", "chunk_size"), [(0, 10), (1, 10), (10, 10), (25, 10), (25, None)]
)
async def test_n_keys_take_one_engine_call_per_chunk(
    docket: Docket, total: int, chunk_size: int | None
) -> None:
    keys = [f"k{n}" for n in range(total)]
    later = docket.clock.now() + timedelta(hours=1)
    await docket.add_many([docket.call(noop, when=later, key=key)() for key in keys])
    sizes = count_cancel_calls(docket)
    assert await docket.cancel_many(keys, chunk_size=chunk_size) == [True] * total
    expected = 0 if total == 0 else math.ceil(total / (chunk_size or total))
    assert len(sizes) == expected
    assert sum(sizes) == total


async def test_a_chunk_is_one_evalsha_in_one_write(
    redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"cancels-{uuid.uuid4().hex[:10]}"
    async with Docket(name=name, url=redis_server_url) as docket:
        keys = [f"k{n}" for n in range(250)]
        later = docket.clock.now() + timedelta(hours=1)
        await docket.add_many([docket.call(noop, when=later, key=key)() for key in keys])
        engine: Any = docket.engine

        async def cancel_all() -> None:
            assert await docket.cancel_many(keys, chunk_size=100) == [True] * 250

        # Three chunks: three EVALSHA, nothing else (no SCRIPT EXISTS, no reads).
        assert await client_commands(engine, redis_server_url, cancel_all) == ["EVALSHA"] * 3
        await docket.add_many([docket.call(noop, when=later, key=key)() for key in keys])
        writes = Writes(monkeypatch)
        assert await docket.cancel_many(keys, chunk_size=None) == [True] * 250
        assert writes.count == 1
        writes.count = 0
        await docket.cancel("k0")
        assert writes.count == 1

        # More keys than one script call takes: still one write, one
        # EVALSHA per KEYS_PER_CALL keys, so no script holds Redis for long.
        many = [f"m{n}" for n in range(KEYS_PER_CALL + 1)]
        await docket.add_many([docket.call(noop, when=later, key=key)() for key in many])
        writes.count = 0

        async def cancel_every_one() -> None:
            assert await docket.cancel_many(many, chunk_size=None) == [True] * len(many)

        assert await client_commands(engine, redis_server_url, cancel_every_one) == ["EVALSHA"] * 2
        assert await docket.cancel_many(many, chunk_size=None) == [False] * len(many)


@pytest.mark.slow
async def test_cancel_many_on_a_cluster(cluster: RedisCluster) -> None:
    for name in names_on_every_master(cluster):
        engine = RedisEngine.from_url(cluster.url, name)
        await engine.open()
        try:
            for key in ("a", "b", "c"):
                when = at(0 if key == "a" else 60)
                await engine.schedule(message(key, when), at(0), replace=False)
            [claim] = (await engine.claim("w", 1, at(0), at(30))).claims
            async with engine.watch_cancellations() as notices:
                cancelled = await engine.cancel_many(["a", "b", "x", "b", "c"], at(1), TTL)
                notice = await asyncio.wait_for(notices.__anext__(), HANG_GUARD)
            assert cancelled == [True, True, False, False, True]
            assert (notice.key, notice.delivery, notice.worker) == ("a", claim.delivery, "w")
            assert await engine.renew("w", [claim.delivery], at(2)) == {claim.delivery}
            for key in ("a", "b", "c"):
                record = await engine.get_record(key, at(2))
                assert record is not None and record.state.value == "cancelled"
        finally:
            await engine.close()
