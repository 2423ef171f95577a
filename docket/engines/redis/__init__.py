"""The Redis engine: docket's storage on Redis (or fakeredis), one Lua script per transition.

Modules mirror ``memory/``, so a behaviour is found in the same place on both
engines: ``engine`` (the ``RedisEngine`` operations), ``scheduling``
(schedule, cancel, clear), ``working`` (claims, leases, settlements, dead
letters, progress), ``gates`` (flow control), ``queries`` (reads),
``listeners`` (events, strikes and cancellations over pub/sub) and
``user_data`` (the user's own keys).  Beside them, what only Redis needs:
``session`` (the live clients, scripts and wake-ups of one engine), ``keys``
(the key layout), ``codec`` (records to and from what Redis stores),
``scripts`` (the Lua in ``lua/``), ``wakeups`` (waking workers),
``connections`` (clients per URL; ``sentinel``, ``cluster`` and
``multihost`` for URLs naming several hosts), ``packing`` (command
encoding), ``errors`` (redis-py's errors as docket's) and ``discard``
(deleting a docket's keys).
"""

from __future__ import annotations

from docket.engines.redis.engine import RedisEngine

__all__ = ["RedisEngine"]
