"""``redis+cluster://``: a docket on a Redis Cluster, pinned to the master of its slot.

A real three-master cluster is started for the module.  The URL names only
its first node; dockets whose hash slots sit on each of the three masters
must all work, and a docket whose slot is migrated to another master (keys
and all) must carry on there.  The whole conformance suite also passes
against a cluster (``DOCKET_TEST_REDIS_URL=redis+cluster://...``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import redis
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError

from conformance.redis_server import RedisCluster
from docket import Docket, Worker

WAIT = timedelta(seconds=20)

T = TypeVar("T")


def owner_port(cluster: RedisCluster, name: str) -> int:
    """The port of the master that serves docket ``name``'s slot."""
    slot = key_slot(("{" + name + "}:stream").encode())
    ranges = redis.Redis(port=cluster.ports[0]).execute_command("CLUSTER SLOTS")
    for start, end, master, *_ in ranges:
        if start <= slot <= end:
            return int(master[1])
    raise AssertionError(f"no master serves slot {slot}")


def names_on_every_master(cluster: RedisCluster) -> list[str]:
    """One docket name whose slot sits on each master."""
    found: dict[int, str] = {}
    candidate = 0
    while len(found) < len(cluster.ports):
        name = f"cluster-{candidate}"
        found.setdefault(owner_port(cluster, name), name)
        candidate += 1
    return list(found.values())


async def double(value: int) -> int:
    return value * 2


async def test_dockets_on_every_master_run_work(cluster: RedisCluster) -> None:
    for name in names_on_every_master(cluster):
        async with Docket(name, url=cluster.url) as docket:
            docket.register(double)
            execution = await docket.add(double)(21)
            async with Worker(docket) as worker:
                await asyncio.wait_for(worker.run_until_finished(), WAIT.total_seconds())
            assert await execution.get_result(timeout=WAIT) == 42
        # The docket's keys are on the master that owns its slot, and only there.
        holders = [
            port for port in cluster.ports if redis.Redis(port=port).keys("{" + name + "}:*")
        ]
        assert holders == [owner_port(cluster, name)]


async def retrying(call: Callable[[], Awaitable[T]], attempts: int = 20) -> T:
    """``await call()``, again after a ConnectionError (at most ``attempts`` times)."""
    for _ in range(attempts - 1):
        try:
            return await call()
        except RedisConnectionError:
            await asyncio.sleep(0.05)
    return await call()


def migrate_slot(cluster: RedisCluster, slot: int, source: int, target: int) -> None:
    """Move ``slot`` and its keys from the master on port ``source`` to ``target``."""
    clients = {port: redis.Redis(port=port) for port in cluster.ports}
    ids = {
        port: client.execute_command("CLUSTER MYID").decode() for port, client in clients.items()
    }
    clients[target].execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[source])
    clients[source].execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[target])
    while keys := clients[source].execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
        clients[source].execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
    for client in clients.values():
        client.execute_command("CLUSTER SETSLOT", slot, "NODE", ids[target])


async def test_a_docket_follows_its_slot_to_another_master(cluster: RedisCluster) -> None:
    name = "cluster-moving"
    source = owner_port(cluster, name)
    target = next(port for port in cluster.ports if port != source)
    async with Docket(name, url=cluster.url) as docket:
        docket.register(double)
        # The worker meets the move too, and waits reconnection_delay to retry.
        async with Worker(docket, reconnection_delay=timedelta(milliseconds=100)) as worker:
            runner = asyncio.create_task(worker.run_forever())
            try:
                before = await docket.add(double)(1)
                assert await before.get_result(timeout=WAIT) == 2

                migrate_slot(cluster, key_slot(("{" + name + "}:stream").encode()), source, target)
                assert owner_port(cluster, name) == target

                # Each pooled connection still open to the old master learns
                # of the move from its next command, which fails as a lost
                # connection would; the connection after it reaches the new
                # master.  So callers retry, as they would after a blip.
                after = await retrying(lambda: docket.add(double)(4))
                assert await retrying(lambda: after.get_result(timeout=WAIT)) == 8
            finally:
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
    assert redis.Redis(port=target).keys("{" + name + "}:*")
    assert not redis.Redis(port=source).keys("{" + name + "}:*")
