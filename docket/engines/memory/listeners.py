"""Listening to a memory docket: a key's events, strike changes and cancellations.

Each listener owns a queue that the store's operations put into as things
happen, in order, from the moment the listener's context is entered (the
in-process twin of ``redis/listeners.py``).  Entering never yields to the
event loop, so nothing published after ``__aenter__`` returns is missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from docket.engines.memory.store import Store
from docket.engines.records import Event

__all__ = ["Subscription", "Watch", "announce"]

T = TypeVar("T")


class Subscription:
    """One subscriber's events for one key, in the order they were published."""

    def __init__(self, store: Store, key: str) -> None:
        self._store = store
        self._key = key
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    async def __aenter__(self) -> AsyncIterator[Event]:
        self._store.subscribers.setdefault(self._key, set()).add(self._queue)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        queues = self._store.subscribers.get(self._key)
        if queues is not None:
            queues.discard(self._queue)
            if not queues:
                del self._store.subscribers[self._key]

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self._queue.get()


class Watch(Generic[T]):
    """One listener to every notice put into a set of queues of the store."""

    def __init__(self, watchers: set[asyncio.Queue[T]]) -> None:
        self._watchers = watchers
        self._queue: asyncio.Queue[T] = asyncio.Queue()

    async def __aenter__(self) -> AsyncIterator[T]:
        self._watchers.add(self._queue)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._watchers.discard(self._queue)

    def __aiter__(self) -> Watch[T]:
        return self

    async def __anext__(self) -> T:
        return await self._queue.get()


def announce(watchers: set[asyncio.Queue[T]], notice: T) -> None:
    """Hand ``notice`` to every listener of ``watchers``."""
    for queue in watchers:
        queue.put_nowait(notice)
