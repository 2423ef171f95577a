"""``redis+sentinel://``: the Redis engine finds its master through Redis Sentinel.

Each test starts its own master, replica and sentinel (real ``redis-server``
processes), so a failover in one cannot disturb another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from conformance.conftest import redis_unavailable
from conformance.redis_server import (
    RedisServer,
    RedisUnavailable,
    start_redis_server,
    start_sentinel,
)
from docket import Docket, VirtualClock, Worker
from docket_testing import run_due

SERVICE = "mymaster"
WAIT = timedelta(seconds=20)


@dataclass
class Topology:
    master_port: int
    replica_port: int
    sentinel_port: int

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}/0"

    def sentinel(self) -> redis.Redis:
        return redis.Redis(port=self.sentinel_port)

    def master_port_now(self) -> int:
        address = self.sentinel().execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(address[1])


def port_of(server: RedisServer) -> int:
    return int(server.url.rsplit(":", 1)[1].split("/")[0])


def wait_until(check: object, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached after {seconds}s")
        time.sleep(0.05)


@pytest.fixture
def topology() -> Iterator[Topology]:
    servers: list[RedisServer] = []
    try:
        # Redis waits 5 s by default before a diskless full sync to a new replica.
        master = start_redis_server(extra_args=["--repl-diskless-sync-delay", "0"])
        servers.append(master)
        replica = start_redis_server(extra_args=["--replicaof", "127.0.0.1", str(port_of(master))])
        servers.append(replica)
        sentinel = start_sentinel(port_of(master), SERVICE, [port_of(replica)])
        servers.append(sentinel)
    except RedisUnavailable as error:
        for server in servers:
            server.stop()
        redis_unavailable(str(error))
    found = Topology(port_of(master), port_of(replica), port_of(sentinel))
    replica_client = redis.Redis(port=found.replica_port)
    wait_until(
        lambda: replica_client.info("replication").get("master_link_status") == "up",
        "the replica in sync",
    )
    wait_until(
        lambda: found.sentinel().execute_command("SENTINEL", "REPLICAS", SERVICE),
        "the sentinel seeing the replica",
    )
    try:
        yield found
    finally:
        for server in reversed(servers):
            server.stop()


async def double(value: int) -> int:
    return value * 2


async def test_a_docket_on_a_sentinel_url_runs_work_and_returns_results(
    topology: Topology,
) -> None:
    async with Docket("sentinel-basic", url=topology.url) as docket:
        docket.register(double)
        execution = await docket.add(double)(21)
        assert (await docket.snapshot()).total_tasks == 1
        async with Worker(docket) as worker:
            await asyncio.wait_for(worker.run_until_finished(), WAIT.total_seconds())
        assert await execution.get_result(timeout=WAIT) == 42
    # It really is the master the sentinel named that holds the docket.
    assert redis.Redis(port=topology.master_port).keys("{sentinel-basic}:*")


async def test_a_running_worker_keeps_working_across_a_failover(topology: Topology) -> None:
    async with Docket("sentinel-failover", url=topology.url) as docket:
        docket.register(double)
        async with Worker(docket, reconnection_delay=timedelta(milliseconds=100)) as worker:
            runner = asyncio.create_task(worker.run_forever())
            try:
                before = await docket.add(double)(1)
                assert await before.get_result(timeout=WAIT) == 2

                assert topology.sentinel().execute_command("SENTINEL", "FAILOVER", SERVICE)
                wait_until(
                    lambda: topology.master_port_now() == topology.replica_port,
                    "the replica promoted",
                )

                # Until the sentinel demotes the old master, it still takes
                # writes (Redis replication is asynchronous): work added in
                # that moment may run there.  Once it is a replica, the next
                # connection reaches the new master.
                # The sentinel demotes it within seconds; do it at once, and
                # wait out its resync (pub/sub messages sent meanwhile are lost
                # to its subscribers: Redis pub/sub is at most once).
                old_master = redis.Redis(port=topology.master_port)
                old_master.execute_command("REPLICAOF", "127.0.0.1", topology.replica_port)
                wait_until(
                    lambda: old_master.info("replication").get("master_link_status") == "up",
                    "the old master resynced as a replica",
                )
                for _ in range(20):
                    try:
                        after = await docket.add(double)(4)
                        break
                    except RedisConnectionError:  # READONLY from the demoted master
                        await asyncio.sleep(0.05)
                assert await after.get_result(timeout=WAIT) == 8
                new_master = redis.Redis(port=topology.replica_port)
                assert new_master.exists("{sentinel-failover}:runs:" + after.key)
            finally:
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)


async def test_a_worker_stopped_while_it_first_reaches_the_master_stops(
    topology: Topology,
) -> None:
    """Regression: the sentinel lookup read under asyncio.wait_for (a socket
    timeout), which swallowed the worker's cancellation of its heartbeat, so
    stopping a worker right after it started hung for good."""
    async with Docket("sentinel-stop", url=topology.url, clock=VirtualClock()) as docket:
        assert await asyncio.wait_for(run_due(docket), WAIT.total_seconds()) == []
