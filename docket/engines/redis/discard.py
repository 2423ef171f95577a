"""Deleting everything one docket keeps on Redis.

Only for a docket whose name no one else uses: it deletes every key under
the docket's hash tag ``{name}:``, in batches, on a connection of its own
(the docket may already be closed).
"""

from __future__ import annotations

from typing import Any

from docket.engines.redis.connections import connect
from docket.engines.redis.keys import DocketKeys

__all__ = ["discard_keys"]

BATCH = 500
"""How many keys one SCAN step asks for, and one DEL deletes."""


async def discard_keys(url: str, name: str, credential_provider: Any = None) -> None:
    """Delete every key of docket ``name`` at ``url``."""
    keys = DocketKeys(name)
    pattern = "".join("\\" + c if c in "*?[]\\" else c for c in keys.prefix) + "*"
    clients = connect(url, keys.stream, credential_provider)
    try:
        batch: list[bytes] = []
        async for key in clients.commands.scan_iter(match=pattern, count=BATCH):
            batch.append(key)
            if len(batch) >= BATCH:
                await clients.commands.delete(*batch)
                batch = []
        if batch:
            await clients.commands.delete(*batch)
    finally:
        await clients.close()
