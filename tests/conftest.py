"""Fixtures shared by docket's internal tests: engines on every target."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from docket.engines import open_engine
from docket.engines.base import Engine

if TYPE_CHECKING:
    from conformance.redis_server import RedisCluster

# ``conformance`` lives beside ``tests`` at the repository root, which is not
# on sys.path when pytest is started as a script rather than ``python -m``.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

EngineFactory = Callable[..., Awaitable[Engine]]
"""``await make(name=None)``: an opened engine; the same name shares data within a test."""


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """One throwaway redis-server for the whole session (a failure under CI)."""
    from conformance.redis_server import RedisUnavailable, start_redis_server

    try:
        server = start_redis_server()
    except RedisUnavailable as error:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}:
            pytest.fail(f"CI must run the Redis targets, but no redis-server started: {error}")
        pytest.skip(f"no redis-server available: {error}")
    try:
        yield server.url
    finally:
        server.stop()


def target_url(request: pytest.FixtureRequest, unique: str) -> str:
    """The URL of the engine target ``request.param`` names: memory, redis or fakeredis."""
    if request.param == "memory":
        return f"memory://{unique}"
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_server_url")
        return url
    pytest.importorskip("fakeredis")
    return f"fakeredis://{unique}"


@pytest.fixture(params=["memory", "redis", "fakeredis"])
async def engine_factory(request: pytest.FixtureRequest) -> AsyncIterator[EngineFactory]:
    """Build opened engines on one target, with docket names unique to this test."""
    unique = uuid.uuid4().hex[:12]
    url = target_url(request, unique)
    engines: list[Engine] = []

    async def make(name: str | None = None) -> Engine:
        engine = open_engine(url, f"{name or 'docket'}-{unique}")
        await engine.open()
        engines.append(engine)
        return engine

    try:
        yield make
    finally:
        for engine in reversed(engines):
            await engine.close()


@pytest.fixture
async def engine(engine_factory: EngineFactory) -> Engine:
    """One opened engine on the current target."""
    return await engine_factory()


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    """A throwaway three-master Redis Cluster for the tests of one module."""
    from conformance.conftest import redis_unavailable
    from conformance.redis_server import RedisUnavailable, start_cluster

    try:
        started = start_cluster(3)
    except RedisUnavailable as error:
        redis_unavailable(str(error))
        raise  # unreachable
    try:
        yield started
    finally:
        started.stop()
