"""Building the Redis clients an engine uses, from its URL.

Two clients per engine:

* ``commands``: a bounded, blocking connection pool for every short command
  and script.  When all its connections are busy, callers wait for one
  instead of failing (redis-py's default pool raises MaxConnectionsError), so
  a burst of concurrent calls never needs a connection each.
* ``blocking``: connections that sit in blocking reads (the wake reader's
  XREAD BLOCK, and the one pub/sub connection every subscription shares).
  They have no socket read timeout, so a quiet wait is never mistaken for a
  dead server.

Neither pool gives redis-py a socket timeout.  With one, redis-py sends each
command under ``asyncio.wait_for``, which before Python 3.12 can swallow a
cancellation that arrives as the send completes: a cancelled worker then
carries on as if nothing happened.  Commands are bounded instead by
``Clients.deadline()`` (``asyncio.timeout``'s semantics, timed by one timer
for all commands: ``deadlines.py``), which keeps cancellations; a command
that runs out of time drops its connection (redis-py never reuses a
connection interrupted mid-command).  A ``socket_timeout`` in the URL sets
that deadline.

``fakeredis://NAME`` builds both on an in-process fakeredis server, one per
URL in this process, so every engine opened on that URL shares its data.
``redis+sentinel://`` builds both on sentinel-managed pools (``sentinel.py``),
``redis+cluster://`` on pools pinned to the docket's slot (``cluster.py``).
"""

from __future__ import annotations

import sys
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import URL_QUERY_ARGUMENT_PARSERS
from redis.exceptions import ResponseError

from docket.engines.redis import cluster, sentinel, tls
from docket.engines.redis.deadlines import Deadlines
from docket.engines.redis.packing import packing_connection_class
from docket.engines.schemes import (
    FAKEREDIS,
    REDIS,
    REDIS_CLUSTER,
    REDIS_SENTINEL,
    REDISS,
    scheme_of,
)
from docket.urls import redact_url

if sys.version_info >= (3, 11):
    from asyncio import timeout as _deadline
else:  # redis-py itself depends on async-timeout below Python 3.11.3
    from async_timeout import timeout as _deadline  # type: ignore[import-not-found]

__all__ = ["COMMAND_CONNECTIONS", "Clients", "check_url", "connect", "ensure_group"]

COMMAND_CONNECTIONS = 50
"""Connections in the command pool; callers queue beyond this."""

BLOCKING_CONNECTIONS = 10_000
"""Cap on connections held by blocking reads (subscriptions share one)."""

COMMAND_TIMEOUT = 30.0
"""Seconds one command or script may take, unless the URL sets ``socket_timeout``."""

CONNECT_TIMEOUT = 10.0
"""Seconds to connect, unless the URL sets ``socket_connect_timeout``."""

# Text options redis-py passes to its connections as written (the others it parses).
_TEXT_OPTIONS = ("client_name", "username", "password", "lib_name", "lib_version")

_FAKE_SERVERS: dict[str, Any] = {}


@dataclass
class Clients:
    """The clients of one engine."""

    commands: Redis
    blocking: Redis
    blocking_reads: bool
    """False on fakeredis, whose blocking reads return at once."""
    command_timeout: float | None = COMMAND_TIMEOUT
    _deadlines: Deadlines | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # Task.cancelling, which the deadlines' bookkeeping needs, is new in 3.11.
        if self.command_timeout is not None and sys.version_info >= (3, 11):
            self._deadlines = Deadlines(self.command_timeout)

    def deadline(self) -> AbstractAsyncContextManager[Any]:
        """A context bounding one call on ``commands`` by the command timeout.

        A call past it is cancelled and raises TimeoutError, as under
        ``asyncio.timeout(command_timeout)``; None sets no bound.
        """
        if self._deadlines is not None:
            return self._deadlines.bound()
        if self.command_timeout is None:
            return _UNBOUNDED
        return cast("AbstractAsyncContextManager[Any]", _deadline(self.command_timeout))

    async def close(self) -> None:
        """Close both clients and disconnect their pools."""
        if self._deadlines is not None:
            self._deadlines.close()
        await self.commands.aclose()
        await self.blocking.aclose()


_UNBOUNDED: AbstractAsyncContextManager[Any] = nullcontext()


def _fake_server(url: str) -> Any:
    try:
        import fakeredis
    except ImportError as error:
        raise ImportError(
            f"{redact_url(url)!r} needs fakeredis with Lua support: pip install pydocket[fake]"
        ) from error
    server = _FAKE_SERVERS.get(url)
    if server is None:
        server = _FAKE_SERVERS[url] = fakeredis.FakeServer()
    return server


def check_url(url: str) -> None:
    """ValueError for a URL ``connect`` would refuse, found without connecting.

    A sentinel or cluster URL must parse (``sentinel.py``, ``cluster.py``);
    a scheme of another engine is refused, naming the URL redacted.
    """
    scheme = scheme_of(url)
    if scheme is REDIS_SENTINEL:
        sentinel.parse_sentinel_url(url)
    elif scheme is REDIS_CLUSTER:
        cluster.parse_cluster_url(url)
    elif scheme is REDIS or scheme is REDISS:
        server_options(url)
    elif scheme is None or scheme.engine != "redis":
        raise _cannot_open(url)


def server_options(url: str) -> dict[str, Any]:
    """The TLS options of a ``redis://`` or ``rediss://`` URL, read; ValueError for a bad one.

    Every query parameter must be one redis-py takes: a TLS option (only on
    ``rediss://``), or a connection option.  Anything else would reach
    redis-py's connection as an unexpected keyword on first connect; here
    it is refused at once, with the list of valid names.
    """
    shown = redact_url(url)
    is_tls = scheme_of(url) is REDISS
    general = sorted(
        {name for name in URL_QUERY_ARGUMENT_PARSERS if not tls.looks_like_tls(name)}
        | set(_TEXT_OPTIONS)
    )
    options: dict[str, Any] = {}
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name == tls.TLS_SWITCH:
            raise ValueError(
                f"{name}= in {shown!r} is for sentinel and cluster URLs; "
                "for TLS to one server, use a rediss:// URL"
            )
        if tls.looks_like_tls(name):
            if name not in tls.tls_options():
                raise tls.unknown_tls_option(name, shown)
            if not is_tls:
                raise ValueError(f"the TLS option {name!r} in {shown!r} needs a rediss:// URL")
            options[name] = tls.parse_tls_option(name, value, shown)
        elif name not in general:
            raise ValueError(
                f"unknown option {name!r} in {shown!r}; valid options: {', '.join(general)}"
                + (f"; valid TLS options: {', '.join(tls.tls_options())}" if is_tls else "")
            )
    return options


def _without_options(url: str, options: dict[str, Any]) -> str:
    """``url`` without the query parameters named in ``options``."""
    if not options:
        return url
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in options]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _cannot_open(url: str) -> ValueError:
    return ValueError(f"the Redis engine cannot open {redact_url(url)!r}")


def connect(url: str, slot_key: str, credential_provider: Any = None) -> Clients:
    """The clients for ``url`` (they connect lazily, on first use).

    ``slot_key`` is any key of the docket: on a cluster, the pools connect to
    the master that owns its hash slot.  ``credential_provider`` (redis-py's)
    authenticates every connection to the data nodes in place of the URL's
    credentials.
    """
    scheme = scheme_of(url)
    if scheme is FAKEREDIS:
        server = _fake_server(url)
        import fakeredis

        commands = fakeredis.FakeAsyncRedis(
            server=server,
            connection_pool_class=BlockingConnectionPool,
            max_connections=COMMAND_CONNECTIONS,
            socket_timeout=None,
        )
        blocking = fakeredis.FakeAsyncRedis(
            server=server, max_connections=BLOCKING_CONNECTIONS, socket_timeout=None
        )
        return Clients(commands, blocking, blocking_reads=False)
    command_pool: ConnectionPool
    blocking_pool: ConnectionPool
    if scheme is REDIS_SENTINEL:
        target = sentinel.parse_sentinel_url(url)
        command_pool, blocking_pool = sentinel.sentinel_pools(
            target,
            command_connections=COMMAND_CONNECTIONS,
            blocking_connections=BLOCKING_CONNECTIONS,
            connect_timeout=CONNECT_TIMEOUT,
        )
        command_timeout = target.options.get("socket_timeout", COMMAND_TIMEOUT)
    elif scheme is REDIS_CLUSTER:
        cluster_target = cluster.parse_cluster_url(url)
        command_pool, blocking_pool = cluster.cluster_pools(
            cluster_target,
            slot_key,
            command_connections=COMMAND_CONNECTIONS,
            blocking_connections=BLOCKING_CONNECTIONS,
            connect_timeout=CONNECT_TIMEOUT,
        )
        command_timeout = cluster_target.options.get("socket_timeout", COMMAND_TIMEOUT)
    elif scheme is REDIS or scheme is REDISS:
        options = server_options(url)
        # redis-py reads some TLS options its own way (ssl_min_version only as
        # a number): they are taken out of the URL and given as docket read them.
        plain = _without_options(url, options)
        command_pool = BlockingConnectionPool.from_url(
            plain, max_connections=COMMAND_CONNECTIONS, timeout=None
        )
        blocking_pool = ConnectionPool.from_url(plain, max_connections=BLOCKING_CONNECTIONS)
        for pool in (command_pool, blocking_pool):
            pool.connection_kwargs.update(options)
        command_timeout = command_pool.connection_kwargs.get("socket_timeout", COMMAND_TIMEOUT)
    else:
        raise _cannot_open(url)
    for pool in (command_pool, blocking_pool):
        # Query parameters of the URL override keyword arguments, so these are
        # set after parsing.  Scripts return bytes (payloads are binary).
        kwargs = pool.connection_kwargs
        kwargs["decode_responses"] = False
        kwargs.setdefault("socket_connect_timeout", CONNECT_TIMEOUT)
        kwargs["socket_timeout"] = None
        if credential_provider is not None:
            kwargs["credential_provider"] = credential_provider
        pool.connection_class = packing_connection_class(pool.connection_class, kwargs)
    # from_pool hands the pools to the clients, which disconnect them on close.
    return Clients(
        Redis.from_pool(command_pool), Redis.from_pool(blocking_pool), True, command_timeout
    )


async def ensure_group(client: Redis, stream: str, group: str) -> None:
    """Create the stream's consumer group unless it exists.

    It reads from the start of the stream, so entries written before any
    worker existed are still delivered.  (Should the stream be deleted later,
    the claim script recreates the group the same way.)
    """
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise
