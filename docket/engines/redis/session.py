"""The live state behind one ``RedisEngine``: clients, scripts and wake-ups.

``Session`` connects and disconnects, runs scripts and reads under the
command deadline, waits for work and opens subscriptions, so that the engine
itself only says what each operation sends and how to read the reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from docket.engines.redis.codec import Arg, decode_cursor
from docket.engines.redis.connections import Clients, connect, ensure_group
from docket.engines.redis.keys import GROUP, DocketKeys
from docket.engines.redis.listeners import Channels, Subscription
from docket.engines.redis.scripts import Scripts
from docket.engines.redis.wakeups import Signal, WakeReader, signal_for
from docket.urls import redact_url

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Session"]

T = TypeVar("T")


class Session:
    """Connections and scripts of one engine, for one docket at one URL."""

    def __init__(self, url: str, keys: DocketKeys, *, credential_provider: Any = None) -> None:
        self.url = url
        self.keys = keys
        self.credential_provider = credential_provider
        self.signal: Signal = signal_for(url, keys.name)
        self.reader: WakeReader | None = None
        self._clients: Clients | None = None
        self._scripts: Scripts | None = None
        self._channels: Channels | None = None

    @property
    def clients(self) -> Clients:
        """The open clients; RuntimeError before ``open`` or after ``close``."""
        if self._clients is None:
            raise self._not_open()
        return self._clients

    def _not_open(self) -> RuntimeError:
        return RuntimeError(
            f"the Redis engine for {self.keys.name!r} at {redact_url(self.url)!r} is not open"
        )

    async def open(self) -> None:
        """Connect, load the scripts and create the consumer group if missing."""
        if self._clients is not None:
            return
        clients = connect(self.url, self.keys.stream, self.credential_provider)
        scripts = Scripts(clients.commands)
        try:
            async with clients.deadline():
                await scripts.load()
                await ensure_group(clients.commands, self.keys.stream, GROUP)
        except BaseException:
            await clients.close()
            raise
        self._clients, self._scripts = clients, scripts
        self._channels = Channels(clients.blocking)
        self.reader = WakeReader(clients.blocking, self.keys.wake)

    async def close(self) -> None:
        """Stop the blocking read and release every connection."""
        clients, self._clients, self._scripts = self._clients, None, None
        reader, self.reader = self.reader, None
        channels, self._channels = self._channels, None
        if reader is not None:
            await reader.close()
        if channels is not None:
            await channels.close()
        if clients is not None:
            await clients.close()

    async def run(self, script: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run one script (one EVALSHA) and return its raw reply."""
        clients = self.clients
        assert self._scripts is not None
        async with clients.deadline():
            return await self._scripts.run(script, keys, args)

    async def run_many(
        self, script: str, calls: Sequence[tuple[Sequence[str], Sequence[Arg]]]
    ) -> list[Any]:
        """Run one script per call in one pipelined round trip; errors come back in place."""
        clients = self.clients
        assert self._scripts is not None
        async with clients.deadline():
            return await self._scripts.run_many(script, calls)

    def user_client(self) -> Redis:
        """A client for the user's own commands, on the engine's command pool.

        Closing it leaves the pool (and the engine) open: it does not own it.
        """
        from redis.asyncio import Redis

        return Redis(connection_pool=self.clients.commands.connection_pool)

    async def read(self, query: Callable[[Redis], Awaitable[T]]) -> T:
        """Run ``query`` on the command client under the command deadline."""
        clients = self.clients
        async with clients.deadline():
            return await query(clients.commands)

    async def write(self, command: Callable[[Redis], Awaitable[T]]) -> T:
        """Run ``command`` (a change too small for a script) like ``read`` runs a query."""
        return await self.read(command)

    async def wait(self, cursor: str | None) -> None:
        """Return when queued work may have arrived since ``cursor`` (see ``wakeups``)."""
        clients = self.clients
        if cursor is None:
            version = self.signal.version
            k = self.keys
            queued, wake_id = await self.run("probe", [k.queue, k.stream, k.leases, k.wake], [])
            if queued:
                return
            after = wake_id.decode()
        else:
            after, version, more = decode_cursor(cursor)
            if more:
                return
        await self.signal.wait(version, self.reader if clients.blocking_reads else None, after)

    def subscribe(self, channel: str, parse: Callable[[bytes], T]) -> Subscription[T]:
        """Listen to ``channel`` on the connection every subscription shares."""
        channels = self._channels
        if channels is None:
            raise self._not_open()
        return channels.subscribe(channel, parse)
