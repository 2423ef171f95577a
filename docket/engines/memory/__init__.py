"""The in-memory engine: docket's deterministic twin of the Redis engine.

It keeps one store per ``(url, docket name)`` in the process, so every
engine opened on ``memory://NAME`` shares its data, as Redis clients share a
server.  Nothing here reads a clock, sleeps or starts a thread: every time
decision uses the caller's ``now``, so the same calls give the same results.
Like the Redis engine it keeps times at millisecond resolution, in UTC.

Modules mirror ``redis/``: ``engine`` (the ``MemoryEngine`` operations),
``store`` (what a docket holds and the steps operations share), ``working``
(claims, leases, settlements), ``gates`` (flow control), ``queries`` (reads),
``listeners`` (events, strikes, cancellations) and ``user_data`` (the user's
own keys, on fakeredis).
"""

from __future__ import annotations

from docket.engines.memory.engine import MemoryEngine
from docket.engines.memory.store import DEAD_LETTER_LIMIT, discard_store, has_store

__all__ = ["DEAD_LETTER_LIMIT", "MemoryEngine", "discard_store", "has_store"]
