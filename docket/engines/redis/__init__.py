"""The Redis engine: docket's storage on Redis (or fakeredis), one Lua script per transition.

Modules: ``engine`` (the ``RedisEngine`` operations), ``keys`` (the key
layout), ``codec`` (records and times to and from Redis), ``scripts`` (the Lua
in ``lua/``), ``queries`` (read-only reads), ``subscriptions`` (events over
pub/sub), ``wakeups`` (waking workers) and ``connections`` (clients per URL).
"""

from __future__ import annotations

from docket.engines.redis.engine import RedisEngine

__all__ = ["RedisEngine"]
