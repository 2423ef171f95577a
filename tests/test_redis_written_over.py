"""A worker meets a record that something other than docket wrote over.

A record key holding something other than a hash cannot be read, run or
ended.  The worker sets that delivery aside as a dead letter, logs it, and
runs the work around it: one bad key never blocks the queue or loses the
work claimed beside it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest

from docket import Docket, Worker
from docket.engines.redis import RedisEngine
from tests.conftest import target_url


@pytest.fixture(params=["redis", "fakeredis"])
def url(request: pytest.FixtureRequest) -> str:
    return target_url(request, uuid.uuid4().hex[:12])


@pytest.mark.parametrize("due", ["now", "later"])
async def test_the_worker_sets_it_aside_and_runs_the_rest(
    url: str, due: str, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    async def note(name: str) -> None:
        ran.append(name)

    async with Docket(name=f"over-{uuid.uuid4().hex[:8]}", url=url) as docket:
        docket.register(note)
        # Work due later is promoted from the future set before it is claimed.
        when = docket.clock.now() + (timedelta(0) if due == "now" else timedelta(milliseconds=200))
        for name in ("a", "b", "c"):
            await docket.add(note, key=name, when=when)(name)
        engine = docket.engine
        assert isinstance(engine, RedisEngine)
        client = engine._session.clients.commands
        await client.set(engine.keys.record("b"), "not a hash")

        async with Worker(docket) as worker:
            await worker.run_until_finished()

        assert sorted(ran) == ["a", "c"]
        [letter] = await engine.dead_letters()
        assert letter.key == "b" and "not a hash" in letter.reason
    assert any(
        r.levelno == logging.ERROR and "Setting aside malformed message" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("due", ["now", "later"])
@pytest.mark.parametrize("damage", ["deleted", "unknown state"])
async def test_work_whose_record_is_gone_or_strange_is_set_aside_not_lost(
    url: str, due: str, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A record evicted or deleted behind docket's back, or in a state docket does
    not know, no longer vanishes silently: it becomes a dead letter naming why."""
    ran: list[str] = []

    async def note(name: str) -> None:
        ran.append(name)

    async with Docket(name=f"gone-{uuid.uuid4().hex[:8]}", url=url) as docket:
        docket.register(note)
        when = docket.clock.now() + (timedelta(0) if due == "now" else timedelta(milliseconds=200))
        for name in ("a", "b", "c"):
            await docket.add(note, key=name, when=when)(name)
        engine = docket.engine
        assert isinstance(engine, RedisEngine)
        client = engine._session.clients.commands
        if damage == "deleted":
            await client.delete(engine.keys.record("b"))
        else:
            await client.hset(engine.keys.record("b"), "state", "limbo")

        async with Worker(docket) as worker:
            await worker.run_until_finished()

        assert sorted(ran) == ["a", "c"]
        [letter] = await engine.dead_letters()
        expected = "no longer exists" if damage == "deleted" else "unknown state limbo"
        assert letter.key == "b" and expected in letter.reason, letter.reason
    assert any(r.levelno == logging.ERROR and expected in r.getMessage() for r in caplog.records)
