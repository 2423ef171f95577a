"""Every URL scheme docket opens, and what each means: its engine, and where its data lives.

This table is the only list of schemes.  The registry (``engines/__init__.py``)
opens, checks and discards by it, and the Redis engine's connections pick a
kind of connection by the entries here.

* ``memory://NAME``: the in-memory twin, in this process only (shared by
  every Docket with that URL in it); no server.
* ``redis://`` and ``rediss://`` (TLS): the Redis engine on a Redis server.
* ``redis+sentinel://``: the Redis engine on the master Redis Sentinel names.
* ``redis+cluster://``: the Redis engine on a Redis Cluster.
* ``fakeredis://NAME``: the Redis engine on an in-process fakeredis server
  (shared by URL in this process), which needs the ``pydocket[fake]`` extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FAKEREDIS",
    "MEMORY",
    "REDIS",
    "REDISS",
    "REDIS_CLUSTER",
    "REDIS_SENTINEL",
    "SCHEMES",
    "Scheme",
    "scheme_list",
    "scheme_of",
    "scheme_name",
]


@dataclass(frozen=True)
class Scheme:
    """One URL scheme: the engine that serves it and where that engine keeps the data."""

    name: str
    """The scheme as written before ``://``, in lower case."""

    engine: Literal["memory", "redis"]
    """The engine that opens it (``docket/engines/memory`` or ``docket/engines/redis``)."""

    in_process: bool
    """Its data lives in this process only; no other process can reach it."""

    server: bool
    """It is a server the engine talks to (a real one, or fakeredis's in-process one)."""


MEMORY = Scheme("memory", "memory", in_process=True, server=False)
REDIS = Scheme("redis", "redis", in_process=False, server=True)
REDISS = Scheme("rediss", "redis", in_process=False, server=True)
REDIS_SENTINEL = Scheme("redis+sentinel", "redis", in_process=False, server=True)
REDIS_CLUSTER = Scheme("redis+cluster", "redis", in_process=False, server=True)
FAKEREDIS = Scheme("fakeredis", "redis", in_process=True, server=True)

SCHEMES: tuple[Scheme, ...] = (MEMORY, REDIS, REDISS, REDIS_SENTINEL, REDIS_CLUSTER, FAKEREDIS)
"""Every scheme docket opens, in the order messages list them."""

_BY_NAME = {scheme.name: scheme for scheme in SCHEMES}


def scheme_name(url: object) -> str:
    """The scheme ``url`` is written with, in lower case; "" when it is not ``scheme://...``."""
    if not isinstance(url, str) or "://" not in url:
        return ""
    return url.partition("://")[0].lower()


def scheme_of(url: object) -> Scheme | None:
    """The scheme ``url`` names, or None when it names none docket opens."""
    return _BY_NAME.get(scheme_name(url))


def scheme_list(schemes: Iterable[Scheme] = SCHEMES) -> str:
    """``memory://, redis://, ...``: the schemes as a person would type them."""
    return ", ".join(scheme.name + "://" for scheme in schemes)
