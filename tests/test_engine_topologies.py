"""The engine operations added for pydocket clients, on Sentinel and Cluster URLs:
``redis()`` reaches the docket's master, and cancelling running work is heard.

Real ``redis-server`` processes: one master watched by one sentinel, and a
three-master cluster, each started for this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from conformance.conftest import redis_unavailable
from conformance.redis_server import (
    RedisCluster,
    RedisServer,
    RedisUnavailable,
    start_redis_server,
    start_sentinel,
)
from docket.engines.redis import RedisEngine
from tests.test_engine_contract import HANG_GUARD, at, message
from tests.test_redis_cluster import names_on_every_master, owner_port

pytestmark = pytest.mark.slow

SERVICE = "mymaster"
TTL = timedelta(minutes=15)


def port_of(server: RedisServer) -> int:
    return int(server.url.rsplit(":", 1)[1].split("/")[0])


@pytest.fixture(scope="module")
def sentinel_url() -> Iterator[tuple[str, int]]:
    """A ``redis+sentinel://`` URL, and the port of the master it names."""
    servers: list[RedisServer] = []
    try:
        servers.append(start_redis_server())
        servers.append(start_sentinel(port_of(servers[0]), SERVICE))
    except RedisUnavailable as error:
        for server in servers:
            server.stop()
        redis_unavailable(str(error))
    try:
        yield f"redis+sentinel://127.0.0.1:{port_of(servers[1])}/{SERVICE}/0", port_of(servers[0])
    finally:
        for server in reversed(servers):
            server.stop()


async def cancel_running_and_batch(engine: RedisEngine) -> None:
    """Cancel running work while watching, and schedule a batch."""
    await engine.schedule(message("k"), at(0), replace=False)
    [claim] = (await engine.claim("w", 1, at(0), at(30))).claims
    async with engine.watch_cancellations() as notices:
        assert await engine.cancel("k", at(1), TTL) is True
        notice = await asyncio.wait_for(notices.__anext__(), HANG_GUARD)
    assert (notice.key, notice.delivery, notice.worker) == ("k", claim.delivery, "w")
    assert await engine.renew("w", [claim.delivery], at(60)) == {claim.delivery}
    outcomes = await engine.schedule_many([message("a"), message("b")], at(2), replace=False)
    assert all(not isinstance(outcome, Exception) for outcome in outcomes)


async def test_a_sentinel_docket_keeps_user_data_on_its_master(
    sentinel_url: tuple[str, int],
) -> None:
    url, master_port = sentinel_url
    engine = RedisEngine.from_url(url, "sentinel-user-data")
    await engine.open()
    try:
        async with engine.redis() as r:
            await r.set(engine.user_key("x"), b"on the master")
        master = redis.Redis(port=master_port)
        assert master.get("{sentinel-user-data}:x") == b"on the master"
        await cancel_running_and_batch(engine)
    finally:
        await engine.close()


async def test_a_cluster_docket_keeps_user_data_on_the_master_of_its_slot(
    cluster: RedisCluster,
) -> None:
    for name in names_on_every_master(cluster):
        engine = RedisEngine.from_url(cluster.url, name)
        await engine.open()
        try:
            async with engine.redis() as r:
                await r.set(engine.user_key("x"), name.encode())
                assert await r.get(engine.user_key("x")) == name.encode()
            owner = redis.Redis(port=owner_port(cluster, name))
            assert owner.get("{" + name + "}:x") == name.encode()
            await cancel_running_and_batch(engine)
        finally:
            await engine.close()
