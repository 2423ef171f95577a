"""Listening to a Redis docket over pub/sub: every subscription of one engine on one connection.

The twin of ``memory/listeners.py``.  A task key's state events, the strike
changes and the cancellations each have a channel.  Waiting for many results
at once (``get_result`` on a fan-out of tasks) subscribes to many channels,
so they share one pub/sub connection instead of holding one each:
``Channels`` opens it with the first subscription, SUBSCRIBEs to a channel
once however many listen to it and UNSUBSCRIBEs when the last one leaves,
and one reader task hands each message to every listener of its channel, in
order.

If that connection fails, every listener's iterator raises the error and the
next subscription opens a new connection.  Closing the engine closes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = ["Channels", "Subscription"]

T = TypeVar("T")

logger = logging.getLogger("docket.engines.redis")


class _Failed:
    """Put in a listener's queue when the connection it listened on has failed."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_Item = bytes | _Failed


class _Connection:
    """One pub/sub connection, the listeners on it, and the task reading it."""

    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub
        self.listeners: dict[bytes, set[asyncio.Queue[_Item]]] = {}
        # Per channel, one future per SUBSCRIBE sent and not yet confirmed.
        self.confirmations: dict[bytes, deque[asyncio.Future[None]]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None
        self.closing = False

    async def read(self) -> None:
        """Hand out messages until the connection fails or is closed."""
        try:
            while True:
                message: dict[str, Any] | None = await self.pubsub.get_message(timeout=None)
                if message is None:
                    continue
                kind, channel = message["type"], message["channel"]
                if kind == "message":
                    for queue in self.listeners.get(channel, ()):
                        queue.put_nowait(message["data"])
                elif kind == "subscribe":
                    waiting = self.confirmations.get(channel)
                    if waiting:
                        confirmed = waiting.popleft()
                        if not waiting:
                            # Keys come and go: keep nothing for a channel once confirmed.
                            del self.confirmations[channel]
                        if not confirmed.done():
                            confirmed.set_result(None)
        except asyncio.CancelledError:
            self.fail(ConnectionError("the engine's subscriptions were closed"))
            raise
        except Exception as error:
            if not self.closing:
                logger.warning("Subscriptions lost their Redis connection: %r", error)
            self.fail(error)
            try:
                await self.pubsub.aclose()  # type: ignore[no-untyped-call]
            except Exception:
                pass  # it is broken already; the next subscription opens another

    def fail(self, error: BaseException) -> None:
        """End every listener and every wait for a confirmation with ``error``."""
        if self.failure is not None:
            return
        self.failure = error
        for queues in self.listeners.values():
            for queue in queues:
                queue.put_nowait(_Failed(error))
        for waiting in self.confirmations.values():
            for confirmed in waiting:
                if not confirmed.done():
                    confirmed.set_exception(error)
                    # Nobody may be left to retrieve it.
                    confirmed.exception()
        self.confirmations.clear()


class Channels:
    """Every subscription of one engine, sharing one pub/sub connection of ``client``."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._connection: _Connection | None = None
        # Orders SUBSCRIBE and UNSUBSCRIBE sends with the bookkeeping they go with.
        self._lock = asyncio.Lock()

    def subscribe(self, channel: str, parse: Callable[[bytes], T]) -> Subscription[T]:
        """``async with`` it for what is published on ``channel`` from then on, parsed."""
        return Subscription(self, channel.encode(), parse)

    async def close(self) -> None:
        """Close the connection; any listener left sees its iterator raise."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        connection.closing = True
        await connection.pubsub.aclose()  # type: ignore[no-untyped-call]
        if connection.reader is not None:
            connection.reader.cancel()
            await asyncio.gather(connection.reader, return_exceptions=True)
        connection.fail(ConnectionError("the engine's subscriptions were closed"))

    async def _listen(self, channel: bytes, queue: asyncio.Queue[_Item]) -> _Connection:
        """Add ``queue`` as a listener of ``channel``; return once the server has confirmed."""
        async with self._lock:
            connection = self._connection
            if connection is None or connection.failure is not None:
                connection = self._connection = _Connection(self._client.pubsub())
            listeners = connection.listeners.get(channel)
            confirmed: asyncio.Future[None] | None
            if listeners is None:
                listeners = connection.listeners[channel] = set()
                confirmed = asyncio.get_running_loop().create_future()
                connection.confirmations.setdefault(channel, deque()).append(confirmed)
                try:
                    await connection.pubsub.subscribe(channel)
                except BaseException as error:
                    del connection.listeners[channel]
                    sent = connection.confirmations[channel]
                    sent.remove(confirmed)
                    if not sent:
                        del connection.confirmations[channel]
                    if not isinstance(error, asyncio.CancelledError):
                        # The send failed: so will the next one on this connection.
                        connection.fail(error)
                    raise
                if connection.reader is None:
                    # The reader starts after the first SUBSCRIBE: redis-py
                    # only has a connection to read from once one was sent.
                    connection.reader = asyncio.create_task(connection.read())
            else:
                # Someone listens already; wait as they do if the server has
                # not yet confirmed their SUBSCRIBE.
                waiting = connection.confirmations.get(channel)
                confirmed = waiting[-1] if waiting else None
            listeners.add(queue)
        if confirmed is not None:
            try:
                await asyncio.shield(confirmed)
            except BaseException:
                await self._leave(connection, channel, queue)
                raise
        return connection

    async def _leave(
        self, connection: _Connection, channel: bytes, queue: asyncio.Queue[_Item]
    ) -> None:
        """Remove a listener; UNSUBSCRIBE when it was the channel's last."""
        async with self._lock:
            listeners = connection.listeners.get(channel)
            if listeners is None:
                return
            listeners.discard(queue)
            if listeners or connection.failure is not None:
                return
            del connection.listeners[channel]
            try:
                await connection.pubsub.unsubscribe(channel)
            except Exception as error:
                connection.fail(error)


class Subscription(Generic[T]):
    """``async with Subscription(...) as items``: what is published on one
    channel, each message passed through ``parse``, in order.

    Entering returns only once the server has confirmed the SUBSCRIBE, so a
    caller that then reads the record cannot miss a later change.  An
    unreadable message is logged and skipped.
    """

    def __init__(self, channels: Channels, channel: bytes, parse: Callable[[bytes], T]) -> None:
        self._channels = channels
        self._channel = channel
        self._parse = parse
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._connection: _Connection | None = None

    async def __aenter__(self) -> AsyncIterator[T]:
        self._connection = await self._channels._listen(self._channel, self._queue)
        return self._items()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._channels._leave(connection, self._channel, self._queue)

    async def _items(self) -> AsyncIterator[T]:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Failed):
                raise item.error
            try:
                yield self._parse(item)
            except (ValueError, KeyError, TypeError) as error:
                logger.warning(
                    "ignoring an unreadable message on %s: %r", self._channel.decode(), error
                )
