"""``credential_provider``: Redis credentials from a redis-py provider, not the URL.

pydocket's ``Docket(..., credential_provider=...)`` and ``StrikeList(...,
credential_provider=...)`` authenticate every connection with a redis-py
``CredentialProvider``; the URL then carries no secret.  Pinned on a real
redis-server whose default user is switched off, so only the provider's
user can connect; and no secret shows in what fails.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
import redis
from redis.credentials import UsernamePasswordCredentialProvider

from docket import Docket, StrikeList, Worker

SECRET = "s3cret-pw-4-docket"


@pytest.fixture(scope="module")
def locked_server() -> Iterator[str]:
    """A throwaway server on which only user ``alice`` (password SECRET) may connect."""
    from conformance.redis_server import RedisUnavailable, start_redis_server

    try:
        server = start_redis_server(extra_args=["--protected-mode", "no"])
    except RedisUnavailable as error:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}:
            pytest.fail(f"CI must run the Redis tests, but no redis-server started: {error}")
        pytest.skip(f"no redis-server available: {error}")
    try:
        admin = redis.Redis.from_url(server.url)
        admin.execute_command("ACL", "SETUSER", "alice", "on", f">{SECRET}", "~*", "&*", "+@all")
        admin.execute_command("ACL", "SETUSER", "default", "off")
        admin.close()
        yield server.url
    finally:
        server.stop()


async def double(n: int) -> int:
    return n * 2


async def test_a_docket_authenticates_with_its_credential_provider(locked_server: str) -> None:
    provider = UsernamePasswordCredentialProvider("alice", SECRET)
    async with Docket("credentials", locked_server, credential_provider=provider) as docket:
        execution = await docket.add(double)(21)
        async with Worker(docket) as worker:
            await worker.run_until_finished()
        assert await execution.get_result() == 42
        async with docket.redis() as client:
            await client.set(docket.key("mine"), b"kept")
            assert await client.get(docket.key("mine")) == b"kept"
        async with StrikeList(
            locked_server, "credentials", credential_provider=provider
        ) as strikes:
            await strikes.strike("double")
            # The docket hears of the strike through its own subscription.
            for _ in range(200):
                if docket.is_stricken("double", double, (1,), {}):
                    break
                await asyncio.sleep(0.01)
            assert (await docket.add(double)(1)).disposition.value == "struck"
            await strikes.restore("double")


async def test_without_the_provider_the_connection_is_refused_without_a_secret(
    locked_server: str,
) -> None:
    with pytest.raises(redis.exceptions.RedisError) as refused:
        async with Docket("credentials", locked_server):
            pass
    assert SECRET not in str(refused.value)
    wrong = UsernamePasswordCredentialProvider("alice", "not-it")
    with pytest.raises(redis.exceptions.RedisError) as refused:
        async with Docket("credentials", locked_server, credential_provider=wrong):
            pass
    assert "not-it" not in str(refused.value) and SECRET not in str(refused.value)
