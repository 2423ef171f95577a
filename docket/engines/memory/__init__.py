"""The in-memory engine: docket's deterministic twin of the Redis engine.

It keeps one store per ``(url, docket name)`` in the process, so every
engine opened on ``memory://NAME`` shares its data, as Redis clients share a
server.  Nothing here reads a clock, sleeps or starts a thread: every time
decision uses the caller's ``now``, so the same calls give the same results.
Like the Redis engine it keeps times at millisecond resolution, in UTC.

Modules mirror ``redis/``, so a behaviour is found in the same place on both
engines: ``engine`` (the ``MemoryEngine`` operations), ``scheduling``
(schedule, cancel, clear), ``working`` (claims, leases, settlements, dead
letters, progress), ``gates`` (flow control), ``queries`` (reads),
``listeners`` (events, strikes, cancellations) and ``user_data`` (the user's
own keys, on fakeredis).  ``store`` holds what a docket holds and the steps
operations share, as ``redis/session.py`` holds the live state of a Redis
engine.
"""

from __future__ import annotations

from docket.engines.memory.engine import MemoryEngine
from docket.engines.memory.store import discard_store, has_store

__all__ = ["MemoryEngine", "discard_store", "has_store"]
