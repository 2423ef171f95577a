"""Listening to one pub/sub channel: a task key's state events, or strike changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = ["Subscription"]

T = TypeVar("T")

logger = logging.getLogger("docket.engines.redis")


class Subscription(Generic[T]):
    """``async with Subscription(client, channel, parse) as items``: what is
    published on ``channel``, each message passed through ``parse``, in order.

    Entering returns only once the server has confirmed the SUBSCRIBE, so a
    caller that then reads the record cannot miss a later change.  Leaving
    closes the pub/sub connection, which also ends the subscription server
    side; the connection is never reused, even if a read was interrupted.
    """

    def __init__(self, client: Redis, channel: str, parse: Callable[[bytes], T]) -> None:
        self._client = client
        self._channel = channel
        self._parse = parse
        self._pubsub: PubSub | None = None

    async def __aenter__(self) -> AsyncIterator[T]:
        pubsub = self._client.pubsub()
        self._pubsub = pubsub
        try:
            await pubsub.subscribe(self._channel)
            while True:
                # redis-py sends SUBSCRIBE without waiting for its reply.
                message = await pubsub.get_message(timeout=None)
                if message is not None and message["type"] == "subscribe":
                    break
        except BaseException:
            self._pubsub = None
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        return self._events(pubsub)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _events(self, pubsub: PubSub) -> AsyncIterator[T]:
        while True:
            # The read runs in a task of its own behind a shield: some clients
            # (fakeredis on Python < 3.12, through asyncio.wait_for) swallow a
            # cancellation that lands as a message arrives, which would leave
            # a cancelled listener running forever.  The shield delivers our
            # cancellation regardless, and the read is cancelled after it.
            read = asyncio.ensure_future(
                pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            )
            try:
                message: dict[str, Any] | None = await asyncio.shield(read)
            except asyncio.CancelledError:
                read.cancel()
                raise
            if message is None or message["type"] != "message":
                continue
            try:
                yield self._parse(message["data"])
            except (ValueError, KeyError, TypeError) as error:
                logger.warning("ignoring an unreadable message on %s: %r", self._channel, error)
