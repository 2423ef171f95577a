"""``redis+sentinel://`` URLs: finding the master through Redis Sentinel.

The URL names the sentinels, the monitored service and the database::

    redis+sentinel://[[username]:password@]host[:port][,host[:port]...]/service[/db]

Sentinel ports default to 26379.  Credentials are the master's.  Query
parameters: ``socket_timeout`` (the command deadline, as for ``redis://``),
``socket_connect_timeout``, ``sentinel_username``/``sentinel_password``
for sentinels that require auth, and ``ssl=true`` with the TLS options of
``rediss://`` (``tls.py``), which then apply to the sentinels and the
master alike.  The pools ask the sentinels for the
current master on every new connection, so after a failover the next
connection reaches the new master.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from redis.asyncio import BlockingConnectionPool
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from docket.engines.redis import tls
from docket.engines.redis.multihost import parse_multihost_url
from docket.engines.schemes import REDIS_SENTINEL

__all__ = ["SentinelTarget", "parse_sentinel_url", "sentinel_pools", "tls_kwargs"]

DEFAULT_SENTINEL_PORT = 26379

_QUERY_FLOATS = ("socket_timeout", "socket_connect_timeout")
_QUERY_STRINGS = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True)
class SentinelTarget:
    """What a ``redis+sentinel://`` URL names."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Parse ``url``; ValueError naming the URL (password hidden) and what is wrong."""
    parsed = parse_multihost_url(
        url,
        scheme=REDIS_SENTINEL.name,
        default_port=DEFAULT_SENTINEL_PORT,
        what="sentinels",
        float_options=_QUERY_FLOATS,
        text_options=_QUERY_STRINGS,
    )
    path, shown = parsed.path, parsed.shown
    if not path or len(path) > 2:
        raise ValueError(f"{shown!r} must name the service as /service or /service/db")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise ValueError(f"the database in {shown!r} must be a number, got {path[1]!r}")
        db = int(path[1])
    return SentinelTarget(
        parsed.hosts, unquote(path[0]), db, parsed.username, parsed.password, parsed.options
    )


def tls_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """redis-py's keyword arguments for the TLS a multi-host URL's ``options`` ask for."""
    if not options.get(tls.TLS_SWITCH):
        return {}
    return {"ssl": True, **{k: v for k, v in options.items() if k in tls.tls_options()}}


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """A sentinel-managed pool that makes callers wait for a free connection.

    redis-py's asyncio SentinelConnectionPool raises when all its connections
    are busy; docket's command pool waits instead, as it does for redis://.
    """


def sentinel_pools(
    target: SentinelTarget,
    *,
    command_connections: int,
    blocking_connections: int,
    connect_timeout: float,
) -> tuple[SentinelConnectionPool, SentinelConnectionPool]:
    """The command pool (bounded, waiting) and the blocking-read pool for ``target``."""
    connect = float(target.options.get("socket_connect_timeout", connect_timeout))
    # No socket_timeout: redis-py would then read under asyncio.wait_for, which
    # before Python 3.12 can swallow a cancellation (see connections.py).  The
    # command deadline bounds the lookup instead.
    secure = tls_kwargs(target.options)
    sentinel_kwargs: dict[str, Any] = {
        "socket_connect_timeout": connect,
        "socket_timeout": None,
        **secure,
    }
    for name in _QUERY_STRINGS:
        if name in target.options:
            sentinel_kwargs[name.removeprefix("sentinel_")] = target.options[name]
    manager = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), sentinel_kwargs=sentinel_kwargs
    )
    connection_kwargs: dict[str, Any] = {
        "db": target.db,
        "username": target.username,
        "password": target.password,
        "decode_responses": False,
        "socket_connect_timeout": connect,
        "socket_timeout": None,
        # "ssl" makes the pools use redis-py's SentinelManagedSSLConnection.
        **secure,
    }
    commands = BlockingSentinelConnectionPool(  # type: ignore[no-untyped-call]
        target.service,
        manager,
        max_connections=command_connections,
        timeout=None,
        **connection_kwargs,
    )
    blocking = SentinelConnectionPool(  # type: ignore[no-untyped-call]
        target.service, manager, max_connections=blocking_connections, **connection_kwargs
    )
    return commands, blocking
