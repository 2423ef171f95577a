"""A worker meets a record that something other than docket wrote over.

A record key holding something other than a hash cannot be read, run or
ended.  The worker sets that delivery aside as a dead letter, logs it, and
runs the work around it: one bad key never blocks the queue or loses the
work claimed beside it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from docket import Docket, Worker
from docket.engines.redis import RedisEngine
from tests.conftest import target_url


async def _damage_b_and_run(
    docket: Docket, due: str, damage: Callable[[Any, str], Awaitable[Any]]
) -> RedisEngine:
    """Add work under keys a, b and c, ``damage`` b's record behind docket's back,
    and run a worker until finished: a and c run, and the engine is returned."""
    ran: list[str] = []

    async def note(name: str) -> None:
        ran.append(name)

    docket.register(note)
    # Work due later is promoted from the future set before it is claimed.
    when = docket.clock.now() + (timedelta(0) if due == "now" else timedelta(milliseconds=200))
    for name in ("a", "b", "c"):
        await docket.add(note, key=name, when=when)(name)
    engine = docket.engine
    assert isinstance(engine, RedisEngine)
    await damage(engine._session.clients.commands, engine.keys.record("b"))
    async with Worker(docket) as worker:
        await worker.run_until_finished()
    assert sorted(ran) == ["a", "c"]
    return engine


@pytest.fixture(params=["redis", "fakeredis"])
def url(request: pytest.FixtureRequest) -> str:
    return target_url(request, uuid.uuid4().hex[:12])


@pytest.mark.parametrize("due", ["now", "later"])
async def test_the_worker_sets_it_aside_and_runs_the_rest(
    url: str, due: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with Docket(name=f"over-{uuid.uuid4().hex[:8]}", url=url) as docket:
        engine = await _damage_b_and_run(
            docket, due, lambda client, record: client.set(record, "not a hash")
        )
        [letter] = await engine.dead_letters()
        assert letter.key == "b" and "not a hash" in letter.reason
    assert any(
        r.levelno == logging.ERROR and "Set aside malformed message" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("due", ["now", "later"])
@pytest.mark.parametrize("damage", ["deleted", "unknown state"])
async def test_work_whose_record_is_gone_or_strange_is_set_aside_not_lost(
    url: str, due: str, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A record evicted or deleted behind docket's back, or in a state docket does
    not know, no longer vanishes silently: it becomes a dead letter naming why."""
    async with Docket(name=f"gone-{uuid.uuid4().hex[:8]}", url=url) as docket:
        engine = await _damage_b_and_run(
            docket,
            due,
            (lambda client, record: client.delete(record))
            if damage == "deleted"
            else (lambda client, record: client.hset(record, "state", "limbo")),
        )
        [letter] = await engine.dead_letters()
        expected = "no longer exists" if damage == "deleted" else "unknown state limbo"
        assert letter.key == "b" and expected in letter.reason, letter.reason
    assert any(r.levelno == logging.ERROR and expected in r.getMessage() for r in caplog.records)
