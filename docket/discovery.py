"""Finding the dockets that live at one URL, and how much work each holds.

``find_dockets`` lists the names of the dockets in one Redis database (or in
this process, for ``memory://``): ``docket ls`` shows them, and ``docket
worker`` uses them to warn when its own docket is empty while another one in
the same database has work (the usual wrong ``--docket`` name).

On Redis a docket is known by its marker key: every engine that opens docket
``NAME`` creates its stream ``{NAME}:stream`` (see
``docket.engines.redis.keys``), so the names come from ``SCAN`` over keys
matching ``{*}:stream`` of type stream, in batches, never ``KEYS``.  On
``memory://`` they are the stores the process holds for that URL.  A Redis
Cluster spreads dockets over its masters and docket connects to one master
per docket, so discovery there is refused rather than answered in part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docket.docket import Docket
from docket.engines import layout
from docket.engines.records import QueueCounts
from docket.engines.schemes import MEMORY, REDIS_CLUSTER, scheme_of

__all__ = ["DocketSummary", "find_dockets", "summarize_docket", "work_counts"]

MARKER = "stream"
"""The key every opened docket has (its stream, created with the consumer group)."""

SCAN_BATCH = 1000
"""How many keys one SCAN step asks the server to look at."""


@dataclass(frozen=True)
class DocketSummary:
    """One docket's name, its unfinished work by state, and its live workers."""

    name: str
    scheduled: int
    queued: int
    running: int
    workers: int

    @property
    def pending(self) -> int:
        """Scheduled, queued and running work together."""
        return self.scheduled + self.queued + self.running


def marker_name(key: str) -> str | None:
    """The docket name of marker key ``{NAME}:stream``, or None for any other key."""
    if not key.startswith("{"):
        return None
    name, brace, rest = key[1:].partition("}")
    if not brace or not name or rest != ":" + MARKER:
        return None
    return name


async def find_dockets(url: str, *, credential_provider: Any | None = None) -> list[str]:
    """The names of every docket at ``url``, sorted.

    ValueError naming the URL for a ``redis+cluster://`` URL, whose dockets
    live on several masters; connection errors are the engine's.
    """
    scheme = scheme_of(url)
    if scheme is MEMORY:
        from docket.engines.memory.store import docket_names

        return docket_names(url)
    if scheme is REDIS_CLUSTER:
        from docket.urls import redact_url

        raise ValueError(
            f"cannot list the dockets of {redact_url(url)!r}: a redis+cluster:// URL spreads "
            "them over several masters; ask each master with a redis:// URL"
        )
    return await _scan_redis(url, credential_provider)


async def _scan_redis(url: str, credential_provider: Any | None) -> list[str]:
    from docket.engines.redis.connections import connect

    # "{" and "}" are not glob characters in Redis patterns.
    pattern = layout.docket_prefix("*") + MARKER
    clients = connect(url, layout.docket_prefix("docket") + MARKER, credential_provider)
    names: set[str] = set()
    try:
        async for key in clients.commands.scan_iter(
            match=pattern, count=SCAN_BATCH, _type="stream"
        ):
            text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
            name = marker_name(text)
            if name is not None:
                names.add(name)
    finally:
        await clients.close()
    return sorted(names)


async def summarize_docket(
    url: str, name: str, *, credential_provider: Any | None = None
) -> DocketSummary:
    """How much unfinished work docket ``name`` at ``url`` holds, and its live workers."""
    async with Docket(name=name, url=url, credential_provider=credential_provider) as docket:
        counts = await docket.engine.counts(docket.clock.now())
        workers = await docket.workers()
    return DocketSummary(
        name=name,
        scheduled=counts.future,
        queued=counts.queued,
        running=counts.running,
        workers=len(workers),
    )


async def work_counts(
    url: str, names: list[str], *, credential_provider: Any | None = None
) -> dict[str, QueueCounts]:
    """Scheduled, queued and running work of each docket in ``names`` at ``url``.

    On Redis this is one pipeline over one connection for all of them (what
    ``Engine.counts`` reads for one docket, without opening an engine per
    docket), so a worker can afford it at start; elsewhere each docket is
    opened and asked.
    """
    if not names:
        return {}
    if scheme_of(url) is MEMORY:
        found = {}
        for name in names:
            async with Docket(name=name, url=url) as docket:
                found[name] = await docket.engine.counts(docket.clock.now())
        return found
    return await _redis_counts(url, names, credential_provider)


async def _redis_counts(
    url: str, names: list[str], credential_provider: Any | None
) -> dict[str, QueueCounts]:
    from docket.engines.redis.connections import connect
    from docket.engines.redis.keys import DocketKeys

    clients = connect(url, DocketKeys(names[0]).stream, credential_provider)
    try:
        async with clients.commands.pipeline(transaction=False) as pipe:
            for name in names:
                keys = DocketKeys(name)
                pipe.zcard(keys.future)
                pipe.zcard(keys.queue)
                pipe.xlen(keys.stream)
                pipe.zcard(keys.leases)
            replies = await pipe.execute()
    finally:
        await clients.close()
    found = {}
    for index, name in enumerate(names):
        future, queue, entries, leased = (int(r) for r in replies[index * 4 : index * 4 + 4])
        # As docket.engines.redis.queries.counts reads them: every stream entry
        # a worker has read holds a lease until it is settled.
        found[name] = QueueCounts(
            future=future, queued=queue + max(0, entries - leased), running=leased
        )
    return found
