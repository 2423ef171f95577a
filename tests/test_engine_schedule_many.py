"""``Engine.schedule_many`` on every engine: one ``schedule`` per message, in
order, each atomic on its own, with a refused message's error in its place."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest

from docket.engines.base import Engine, ScheduleResult, TaskMessage
from docket.engines.redis import RedisEngine
from docket.engines.redis.scheduling import KEYS_PER_CALL
from docket.states import Disposition, ExecutionState
from tests.conftest import EngineFactory
from tests.test_engine_contract import HANG_GUARD, at, claim_keys, message
from tests.test_redis_engine import Writes, client_commands

S = ExecutionState


def scheduled(outcome: ScheduleResult | Exception) -> ScheduleResult:
    assert isinstance(outcome, ScheduleResult), outcome
    return outcome


async def test_each_message_is_scheduled_in_order_and_a_bad_one_fails_alone(
    engine: Engine,
) -> None:
    live = (await engine.schedule(message("live", at(60)), at(0), replace=False)).record
    naive = TaskMessage("bad", "task", b"p", datetime(2030, 1, 1))  # noqa: DTZ001
    batch = [
        message("a"),
        message("b", at(30)),
        message("live", payload=b"ignored"),
        naive,
        message("c", headers={"traceparent": "00-x"}),
    ]

    outcomes = await engine.schedule_many(batch, at(0), replace=False)

    assert len(outcomes) == 5
    a, b, kept, _, c = outcomes
    assert isinstance(outcomes[3], ValueError)
    assert "'bad'" in str(outcomes[3]) and "timezone-aware" in str(outcomes[3])
    assert [scheduled(o).disposition for o in (a, b, c)] == [Disposition.SCHEDULED] * 3
    assert [scheduled(o).record.state for o in (a, b, c)] == [S.QUEUED, S.SCHEDULED, S.QUEUED]
    generations = [scheduled(o).record.generation for o in (a, b, c)]
    assert live.generation < generations[0] < generations[1] < generations[2]
    assert scheduled(kept).disposition is Disposition.ALREADY_SCHEDULED
    assert scheduled(kept).record == live
    for outcome in (a, b, c):
        record = scheduled(outcome).record
        assert await engine.get_record(record.key, at(0)) == record
    assert await engine.get_record("bad", at(0)) is None
    assert dict(scheduled(c).record.headers) == {"traceparent": "00-x"}
    assert await claim_keys(engine, at(60)) == ["a", "c", "b", "live"]


async def test_replace_takes_each_keys_place(engine: Engine) -> None:
    old = (await engine.schedule(message("k", payload=b"old"), at(0), replace=False)).record

    outcomes = await engine.schedule_many(
        [message("k", at(10), payload=b"new"), message("fresh")], at(1), replace=True
    )

    new, fresh = (scheduled(o) for o in outcomes)
    assert new.disposition is Disposition.SCHEDULED and new.record.generation > old.generation
    assert (new.record.state, new.record.payload) == (S.SCHEDULED, b"new")
    assert fresh.disposition is Disposition.SCHEDULED
    assert await claim_keys(engine, at(1)) == ["fresh"]
    assert await claim_keys(engine, at(10)) == ["k"]


@pytest.mark.parametrize("replace", [False, True])
async def test_a_key_twice_in_one_batch_is_two_schedules(engine: Engine, replace: bool) -> None:
    first, second = await engine.schedule_many(
        [message("k", payload=b"one"), message("k", payload=b"two")], at(0), replace=replace
    )

    winner = scheduled(second if replace else first).record
    assert scheduled(first).disposition is Disposition.SCHEDULED
    expected = Disposition.SCHEDULED if replace else Disposition.ALREADY_SCHEDULED
    assert scheduled(second).disposition is expected
    assert scheduled(second).record == winner
    assert await engine.get_record("k", at(0)) == winner
    assert (await engine.counts(at(0))).queued == 1


async def test_an_empty_batch_does_nothing(engine: Engine) -> None:
    assert await engine.schedule_many([], at(0), replace=False) == []
    assert (await engine.counts(at(0))).total == 0


@pytest.mark.parametrize("when", [at(0), at(60)], ids=["due", "future"])
async def test_a_batch_wakes_a_waiting_worker(
    engine_factory: EngineFactory, when: datetime
) -> None:
    consumer = await engine_factory()
    producer = await engine_factory()
    waiter = asyncio.ensure_future(consumer.wait_for_work(None))
    for _ in range(5):
        await asyncio.sleep(0)

    await producer.schedule_many([message("k", when)], at(0), replace=False)

    await asyncio.wait_for(waiter, HANG_GUARD)


async def test_a_storage_error_comes_back_in_its_place(engine: Engine) -> None:
    if not isinstance(engine, RedisEngine):
        pytest.skip("only Redis can hold something that is not a record under a record's key")
    client = engine._session.clients.commands
    await client.set(engine.keys.record("written-over"), b"not a hash")

    before, broken, after = await engine.schedule_many(
        [message("before"), message("written-over"), message("after")], at(0), replace=False
    )

    assert isinstance(broken, Exception) and "WRONGTYPE" in str(broken)
    assert scheduled(before).disposition is scheduled(after).disposition is Disposition.SCHEDULED
    assert await claim_keys(engine, at(0)) == ["before", "after"]


async def test_a_batch_reloads_flushed_scripts(engine: Engine) -> None:
    if not isinstance(engine, RedisEngine):
        pytest.skip("only Redis loads scripts")
    await engine._session.clients.commands.script_flush()

    outcomes = await engine.schedule_many([message("a"), message("b")], at(0), replace=False)

    assert [scheduled(o).disposition for o in outcomes] == [Disposition.SCHEDULED] * 2
    assert await claim_keys(engine, at(0)) == ["a", "b"]


async def test_a_batch_is_one_round_trip_on_a_real_server(
    redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = RedisEngine.from_url(redis_server_url, f"batch-{uuid.uuid4().hex[:12]}")
    await engine.open()
    try:
        await engine.get_record("warm-up", at(0))  # the pool holds a connection from here on

        async def batch() -> None:
            await engine.schedule_many([message(k) for k in "abc"], at(0), replace=False)

        # One script call for the batch, and no SCRIPT EXISTS check...
        assert await client_commands(engine, redis_server_url, batch) == ["EVALSHA"]

        async def big_batch() -> None:
            many = [message(f"many-{n}") for n in range(KEYS_PER_CALL + 1)]
            await engine.schedule_many(many, at(0), replace=False)

        # ...one per KEYS_PER_CALL messages when there are more...
        assert await client_commands(engine, redis_server_url, big_batch) == ["EVALSHA"] * 2
        # ...in one write to the server.
        writes = Writes(monkeypatch)
        outcomes = await engine.schedule_many([message(k) for k in "defg"], at(0), replace=False)
        assert writes.count == 1
        assert [scheduled(o).disposition for o in outcomes] == [Disposition.SCHEDULED] * 4
    finally:
        await engine.close()
