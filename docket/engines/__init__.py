"""Opening an engine from a docket URL.

``memory://NAME`` opens the in-memory twin (shared by every Docket with that
URL in the process); ``redis://``, ``rediss://`` and ``redis+sentinel://``
(the master found through Redis Sentinel) and ``redis+cluster://`` open the
Redis engine;
``fakeredis://NAME`` opens the Redis engine on an in-process fakeredis server
(shared by URL), which needs the ``pydocket[fake]`` extra.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from docket.engines.base import ENGINE_OPERATIONS, Engine
from docket.urls import redact_url

__all__ = ["ENGINE_OPERATIONS", "Engine", "SUPPORTED_SCHEMES", "discard_storage", "open_engine"]

SUPPORTED_SCHEMES = (
    "memory",
    "redis",
    "rediss",
    "redis+sentinel",
    "redis+cluster",
    "fakeredis",
)


async def discard_storage(url: str, name: str, *, credential_provider: Any | None = None) -> None:
    """Delete everything stored for docket ``name`` at ``url`` (for throwaway test dockets).

    Only for a name no one else uses: on Redis it deletes every key under the
    docket's hash tag; on ``memory://`` it forgets the docket's store.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from docket.engines.memory import discard_store

        discard_store(url, name)
    elif scheme in ("redis", "rediss", "redis+sentinel", "redis+cluster", "fakeredis"):
        from docket.engines.redis.discard import discard_keys

        await discard_keys(url, name, credential_provider)
    else:
        raise ValueError(f"url scheme {scheme!r} is not supported (in {redact_url(url)!r})")


def open_engine(url: str, name: str, *, credential_provider: Any | None = None) -> Engine:
    """Build (but do not connect) the engine that serves docket ``name`` at ``url``.

    ``credential_provider`` (a redis-py ``CredentialProvider``) supplies the
    Redis credentials in place of any in the URL; in-process engines have no
    use for one.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"url must look like 'scheme://...', got {url!r}")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from docket.engines.memory import MemoryEngine

        return MemoryEngine.for_url(url, name)
    if scheme in ("redis", "rediss", "redis+sentinel", "redis+cluster", "fakeredis"):
        from docket.engines.redis import RedisEngine

        return RedisEngine.from_url(url, name, credential_provider=credential_provider)
    raise ValueError(
        f"url scheme {scheme!r} is not supported (in {redact_url(url)!r}); "
        f"use one of: {', '.join(s + '://' for s in SUPPORTED_SCHEMES)}"
    )
