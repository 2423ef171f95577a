"""The user's own data beside a memory docket: an in-process fakeredis server.

pydocket programs keep data of their own next to the docket
(``docket.key(...)``, ``async with docket.redis() as r``).  On ``memory://``
that data lives on one ``fakeredis.FakeServer`` per store, so every engine of
the same URL and docket name in this process sees the same data, for as long
as the store lives.  Each ``redis()`` context gets a client of its own (a
client belongs to the event loop it first connects on; the server does not).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from docket.engines.memory.store import Store

__all__ = ["user_client"]


@asynccontextmanager
async def user_client(store: Store) -> AsyncIterator[Any]:
    """A redis-py asyncio client (bytes replies) on ``store``'s user data server."""
    import fakeredis

    if store.user_data is None:
        store.user_data = fakeredis.FakeServer()
    client = fakeredis.FakeAsyncRedis(server=store.user_data)
    try:
        yield client
    finally:
        await client.aclose()
