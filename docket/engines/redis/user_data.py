"""The user's own data beside a Redis docket: a client on the docket's server.

The twin of ``memory/user_data.py``.  pydocket programs keep data of their
own next to the docket (``docket.key(...)``, ``async with docket.redis() as
r``); on Redis it lives on the docket's server, reached through the engine's
own command pool (on a cluster, the node that owns the docket's slot).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from docket.engines.redis.session import Session

__all__ = ["user_client"]


@asynccontextmanager
async def user_client(session: Session) -> AsyncIterator[Any]:
    """A redis-py asyncio client (bytes replies) on ``session``'s command pool.

    Closing it leaves the pool, and the engine, open.
    """
    client = session.user_client()
    try:
        yield client
    finally:
        await client.aclose()
