"""``redis+cluster://`` URLs: a docket on a Redis Cluster.

Every key of a docket shares the hash tag ``{name}``, so one docket lives in
one hash slot, on one master.  docket therefore needs no cluster client: its
pools connect to whichever master owns that slot, asked of the nodes named
in the URL (``CLUSTER SLOTS``) on every new connection.  Scripts, blocking
reads and the shared pub/sub connection then work exactly as on a single
server (PUBLISH reaches every node of a cluster).  When the slot moves (a
failover, or resharding), the master answers MOVED or the connection fails;
the connection is dropped, the owner is looked up again, and the command
fails with a ConnectionError that the worker's reconnection handles.

The URL lists one or more nodes of the cluster (port 6379 by default)::

    redis+cluster://[[username]:password@]host[:port][,host[:port]...][/0]

Options: ``socket_timeout`` (the command deadline), ``socket_connect_timeout``,
and ``ssl=true`` with the TLS options of ``rediss://`` (``tls.py``) for every
node, the ones asked for the slot's owner and the owner itself.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.crc import key_slot

from docket.engines.redis.multihost import parse_multihost_url
from docket.engines.redis.sentinel import tls_kwargs
from docket.engines.schemes import REDIS_CLUSTER

__all__ = ["ClusterTarget", "cluster_pools", "find_slot_owner", "parse_cluster_url"]

DEFAULT_PORT = 6379

_QUERY_FLOATS = ("socket_timeout", "socket_connect_timeout")

# What a master answers when the slot is not (or no longer, or not yet) its own.
_SLOT_ELSEWHERE = (
    redis_errors.MovedError,
    redis_errors.AskError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,
)


@dataclass(frozen=True)
class ClusterTarget:
    """What a ``redis+cluster://`` URL names."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def parse_cluster_url(url: str) -> ClusterTarget:
    """Parse ``url``; ValueError naming the URL (password hidden) and what is wrong."""
    parsed = parse_multihost_url(
        url,
        scheme=REDIS_CLUSTER.name,
        default_port=DEFAULT_PORT,
        what="cluster nodes",
        float_options=_QUERY_FLOATS,
    )
    if parsed.path not in ([], ["0"]):
        raise ValueError(
            f"a cluster has only database 0, got /{'/'.join(parsed.path)} in {parsed.shown!r}"
        )
    return ClusterTarget(parsed.hosts, parsed.username, parsed.password, parsed.options)


async def find_slot_owner(
    target: ClusterTarget, slot: int, connect_timeout: float
) -> tuple[str, int]:
    """The address of the master that owns ``slot``, asked of the URL's nodes in turn."""
    failures: list[str] = []
    for host, port in target.nodes:
        client = Redis(
            host=host,
            port=port,
            username=target.username,
            password=target.password,
            socket_connect_timeout=connect_timeout,
            # Not socket_timeout, which would read under asyncio.wait_for and
            # could swallow a cancellation before Python 3.12 (see
            # connections.py); the caller's command deadline bounds this.
            socket_timeout=None,
            **tls_kwargs(target.options),
        )
        try:
            ranges = await client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
        except (redis_errors.RedisError, OSError) as error:
            failures.append(f"{host}:{port}: {error}")
            continue
        finally:
            await client.aclose()
        for start, end, master, *_replicas in ranges:
            if int(start) <= slot <= int(end):
                owner_host = master[0].decode() if isinstance(master[0], bytes) else master[0]
                # An empty host means "the node you asked".
                return owner_host or host, int(master[1])
        failures.append(f"{host}:{port}: no master serves slot {slot}")
    raise redis_errors.ConnectionError(
        f"cannot find the master of slot {slot}: " + "; ".join(failures)
    )


class SlotOwnerConnection(Connection):
    """A connection to the master that owns the pool's slot, looked up when it connects."""

    def __init__(self, **kwargs: Any) -> None:
        self.connection_pool = kwargs.pop("connection_pool")
        super().__init__(**kwargs)

    async def connect(self) -> None:
        if self._reader:
            return
        self.host, self.port = await self.connection_pool.owner_address()
        try:
            await super().connect()  # type: ignore[no-untyped-call]
        except (redis_errors.ConnectionError, OSError):
            # The owner may have failed over: ask again next time.
            self.connection_pool.forget_owner()
            raise

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except _SLOT_ELSEWHERE as error:
            self.connection_pool.forget_owner()
            await self.disconnect()
            raise redis_errors.ConnectionError(
                f"the docket's slot is not served here any more ({error}); reconnecting"
            ) from error


class SlotOwnerSSLConnection(SlotOwnerConnection, SSLConnection):
    """A ``SlotOwnerConnection`` over TLS (``ssl=true`` in the URL)."""


class _SlotOwnerPool:
    """What both pools add: the slot, and its owner's address, looked up lazily."""

    def _pin(self, target: ClusterTarget, slot: int, connect_timeout: float) -> None:
        self._target = target
        self._slot = slot
        self._connect_timeout = connect_timeout
        self._owner: tuple[str, int] | None = None
        self.connection_kwargs["connection_pool"] = weakref.proxy(self)  # type: ignore[attr-defined]

    async def owner_address(self) -> tuple[str, int]:
        """The current owner of the slot (looked up once, until forgotten)."""
        if self._owner is None:
            self._owner = await find_slot_owner(self._target, self._slot, self._connect_timeout)
        return self._owner

    def forget_owner(self) -> None:
        """Look the owner up again on the next connection."""
        self._owner = None


class SlotOwnerBlockingPool(_SlotOwnerPool, BlockingConnectionPool):
    """Bounded; callers wait for a free connection."""


class SlotOwnerPool(_SlotOwnerPool, ConnectionPool):
    """For blocking reads and pub/sub."""


def cluster_pools(
    target: ClusterTarget,
    slot_key: str,
    *,
    command_connections: int,
    blocking_connections: int,
    connect_timeout: float,
) -> tuple[ConnectionPool, ConnectionPool]:
    """The command pool and the blocking-read pool, pinned to ``slot_key``'s slot."""
    connect = float(target.options.get("socket_connect_timeout", connect_timeout))
    slot = key_slot(slot_key.encode())
    secure = tls_kwargs(target.options)
    # Connections take the TLS options themselves; "ssl" is only a client's switch.
    on = bool(secure.pop("ssl", False))
    kwargs: dict[str, Any] = {
        "connection_class": SlotOwnerSSLConnection if on else SlotOwnerConnection,
        **secure,
        "username": target.username,
        "password": target.password,
        "decode_responses": False,
        "socket_connect_timeout": connect,
        "socket_timeout": None,
    }
    commands = SlotOwnerBlockingPool(max_connections=command_connections, timeout=None, **kwargs)
    commands._pin(target, slot, connect)
    blocking = SlotOwnerPool(max_connections=blocking_connections, **kwargs)
    blocking._pin(target, slot, connect)
    return commands, blocking
