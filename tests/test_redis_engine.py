"""What is specific to the Redis engine: key layout, round trips, malformed
entries, wake-ups, connections.  The semantics every engine shares are checked
in ``test_engine_contract.py``; these tests run on a real ``redis-server``
and, where they do not need one, on fakeredis too.  Nothing here mocks Redis.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import pytest
import redis.asyncio as aredis
from redis.asyncio.connection import Connection

from docket.engines import open_engine
from docket.engines.base import Claim, Settlement, StateChange, TaskMessage
from docket.engines.redis import RedisEngine
from docket.engines.redis.codec import GC_MARGIN_MS
from docket.engines.redis.keys import GROUP, DocketKeys
from docket.states import Disposition, ExecutionState
from docket.timeutil import epoch_ms

S = ExecutionState
T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
LEASE = timedelta(seconds=30)
TTL = timedelta(minutes=15)
GUARD = 10.0

Make = Callable[..., Awaitable[RedisEngine]]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def message(key: str, when: datetime = T0, payload: bytes = b"payload") -> TaskMessage:
    return TaskMessage(key, "task", payload, when)


def done(claim: Claim, when: datetime, **changes: Any) -> Settlement:
    assert claim.record is not None
    fields: dict[str, Any] = dict(
        delivery=claim.delivery,
        key=claim.record.key,
        generation=claim.record.generation,
        state=S.COMPLETED,
        completed_at=when,
        ttl=TTL,
    )
    fields.update(changes)
    return Settlement(**fields)


def raw(engine: RedisEngine) -> aredis.Redis:
    """A client on the engine's server (shares the engine's pool)."""
    return engine._session.clients.commands


@pytest.fixture
async def redis_url(redis_server_url: str) -> str:
    return redis_server_url


@pytest.fixture(params=["redis", "fakeredis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Opened Redis engines on a real server or on fakeredis."""
    unique = uuid.uuid4().hex[:12]
    if request.param == "redis":
        url = request.getfixturevalue("redis_server_url")
    else:
        url = f"fakeredis://{unique}"
    engines: list[RedisEngine] = []

    async def build(name: str = "d", url: str = url) -> RedisEngine:
        engine = open_engine(url, f"{name}-{unique}")
        assert isinstance(engine, RedisEngine)
        await engine.open()
        engines.append(engine)
        return engine

    try:
        yield build
    finally:
        for engine in reversed(engines):
            await engine.close()


@pytest.fixture
async def engine(make: Make) -> RedisEngine:
    return await make()


@pytest.fixture
async def real(redis_server_url: str) -> AsyncIterator[RedisEngine]:
    """An opened engine on the real server."""
    engine = RedisEngine.from_url(redis_server_url, f"real-{uuid.uuid4().hex[:12]}")
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


async def docket_keys(engine: RedisEngine) -> set[str]:
    client = raw(engine)
    found = set()
    async for name in client.scan_iter(match="*" + engine.name + "*"):
        found.add(name.decode())
    return found


async def full_life(engine: RedisEngine, key: str) -> None:
    await engine.schedule(message(key), at(0), replace=False)
    await engine.schedule(message(key + "-later", at(60)), at(0), replace=False)
    claim = (await engine.claim("w", 1, at(0), at(30))).claims[0]
    await engine.settle([done(claim, at(1))], at(1))
    await engine.heartbeat("w", frozenset({"task"}), at(1), timedelta(seconds=60))
    await engine.update_strikes("rule", b"encoded")


# --- key layout ----------------------------------------------------------------------


async def test_every_key_is_hash_tagged(engine: RedisEngine) -> None:
    await full_life(engine, "k")
    claim = (await engine.claim("w", 1, at(60), at(90))).claims[0]
    await engine.set_aside(claim.delivery, "bad", at(61), TTL)

    keys = await docket_keys(engine)

    prefix = "{" + engine.name + "}:"
    assert keys and all(key.startswith(prefix) for key in keys), keys
    assert prefix + "runs:k" in keys
    assert set(keys) - {prefix + "runs:k", prefix + "runs:k-later"} <= set(
        engine.keys.system_keys()
    )


@pytest.mark.parametrize(
    "user_key",
    [
        "stream",
        "future",
        "queue",
        "leases",
        "holders",
        "generation",
        "wake",
        "dead",
        "workers",
        "strikes",
        "runs:x",
        "runs:",
        "{x}",
        "events:k",
        "",
    ],
)
async def test_user_keys_never_collide_with_system_keys(engine: RedisEngine, user_key: str) -> None:
    await full_life(engine, user_key)

    record = await engine.get_record(user_key, at(1))
    assert record is not None and record.state is S.COMPLETED and record.key == user_key
    assert engine.keys.record(user_key) not in engine.keys.system_keys()
    client = raw(engine)
    assert await client.type(engine.keys.stream) == b"stream"
    assert await client.type(engine.keys.future) == b"zset"
    assert await client.type(engine.keys.generation) == b"string"
    assert await engine.strikes() == {"rule": b"encoded"}


def test_names_must_be_non_empty() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        DocketKeys("")


# --- round trips (real server: MONITOR shows every command a client sends) ------------


class Writes:
    """Counts client writes to Redis (one per command, or per pipeline: a round
    trip each) from the moment it is made until the test ends."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = Connection.send_packed_command

        async def counting(connection: Connection, command: Any, check_health: bool = True) -> None:
            self.count += 1
            await original(connection, command, check_health)

        monkeypatch.setattr(Connection, "send_packed_command", counting)


async def client_commands(
    engine: RedisEngine, url: str, operation: Callable[[], Awaitable[object]]
) -> list[str]:
    """The commands clients (not scripts) sent while ``operation`` ran."""
    monitor_client = aredis.Redis.from_url(url)
    marker = aredis.Redis.from_url(url)
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    try:
        await marker.ping()  # connected before MONITOR starts, so its HELLO is not seen
        async with monitor_client.monitor() as monitor:
            await operation()
            await marker.echo(sentinel)
            seen: list[str] = []
            while True:
                info = await asyncio.wait_for(monitor.next_command(), GUARD)
                if sentinel in info["command"]:
                    return seen
                if info["client_type"] != "lua":
                    seen.append(info["command"].split(" ", 1)[0].upper())
    finally:
        await marker.aclose()
        await monitor_client.aclose()


async def test_round_trips_per_operation(real: RedisEngine, redis_server_url: str) -> None:
    engine = real
    url = redis_server_url
    await engine.get_record("warm-up", at(0))  # the pool holds a connection from here on

    async def schedule() -> None:
        await engine.schedule(message("k0"), at(0), replace=False)

    assert await client_commands(engine, url, schedule) == ["EVALSHA"]
    for i in range(1, 5):
        await engine.schedule(message(f"k{i}"), at(0), replace=False)

    batch = None

    async def claim() -> None:
        nonlocal batch
        batch = await engine.claim("w", 5, at(0), at(30))

    assert await client_commands(engine, url, claim) == ["EVALSHA"]
    assert batch is not None and len(batch.claims) == 5
    deliveries = [c.delivery for c in batch.claims]

    async def renew() -> None:
        assert await engine.renew("w", deliveries, at(60)) == set()

    assert await client_commands(engine, url, renew) == ["EVALSHA"]

    async def settle() -> None:
        assert await engine.settle([done(c, at(1)) for c in batch.claims], at(1)) == [True] * 5

    assert await client_commands(engine, url, settle) == ["EVALSHA"]

    async def cancel() -> None:
        await engine.schedule(message("c", at(10)), at(0), replace=False)
        await engine.cancel("c", at(1), TTL)

    assert await client_commands(engine, url, cancel) == ["EVALSHA", "EVALSHA"]

    async def duplicate() -> None:
        await engine.schedule(message("d", at(10)), at(0), replace=False)
        result = await engine.schedule(message("d", at(10)), at(0), replace=False)
        assert result.disposition is Disposition.ALREADY_SCHEDULED

    assert await client_commands(engine, url, duplicate) == ["EVALSHA", "EVALSHA"]


async def test_settle_and_claim_is_one_script_in_one_round_trip(
    real: RedisEngine, redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = real
    for i in range(3):
        await engine.schedule(message(f"k{i}"), at(0), replace=False)
    first = (await engine.claim("w", 2, at(0), at(30))).claims
    outcome: tuple[list[bool], Any] | None = None

    async def settle_and_claim() -> None:
        nonlocal outcome
        outcome = await engine.settle_and_claim(
            [done(c, at(1)) for c in first], "w", 5, at(1), at(31)
        )

    # One script, no SCRIPT EXISTS check...
    assert await client_commands(engine, redis_server_url, settle_and_claim) == ["EVALSHA"]
    assert outcome is not None
    # ...in one write to the server.
    writes = Writes(monkeypatch)
    await engine.schedule(message("k3"), at(1), replace=False)
    writes.count = 0
    again = await engine.settle_and_claim(
        [done(c, at(2)) for c in outcome[1].claims], "w", 5, at(2), at(32)
    )
    assert writes.count == 1
    assert again[0] == [True] and len(again[1].claims) == 1
    applied, batch = outcome
    assert applied == [True, True]
    assert [c.record.key for c in batch.claims if c.record] == ["k2"]


async def test_settle_and_claim_survives_a_script_flush(engine: RedisEngine) -> None:
    for i in range(2):
        await engine.schedule(message(f"k{i}"), at(0), replace=False)
    first = await engine.claim("w", 1, at(0), at(30))
    await raw(engine).script_flush()

    applied, batch = await engine.settle_and_claim(
        [done(first.claims[0], at(1))], "w", 5, at(1), at(31)
    )

    assert applied == [True]
    assert [c.record.key for c in batch.claims if c.record] == ["k1"]
    record = await engine.get_record("k0", at(1))
    assert record is not None and record.state is ExecutionState.COMPLETED


async def test_settle_and_claim_claims_nothing_when_the_settle_fails(
    engine: RedisEngine,
) -> None:
    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    first = (await engine.claim("w", 1, at(0), at(30))).claims[0]
    # A future set that is not a sorted set makes the settle's retry fail.
    await raw(engine).set(engine.keys.future, "not a sorted set")
    retry = done(first, at(1), reschedule=message("a", at(60)))

    with pytest.raises(aredis.ResponseError):
        await engine.settle_and_claim([retry], "w", 5, at(1), at(31))

    # The failed settle stopped the script before its claim: the work waits queued.
    await raw(engine).delete(engine.keys.future)
    again = (await engine.claim("x", 5, at(2), at(32))).claims
    assert [c.record.key for c in again if c.record] == ["b"]


async def test_a_settle_that_fails_part_way_leaves_the_rest_leased(engine: RedisEngine) -> None:
    for key in ("a", "b", "c"):
        await engine.schedule(message(key), at(0), replace=False)
    claims = (await engine.claim("w", 3, at(0), at(30))).claims
    assert [c.record.key for c in claims if c.record] == ["a", "b", "c"]
    # A queue that is not a sorted set makes the settle fail at "b"'s retry,
    # after "a" has ended.
    await raw(engine).set(engine.keys.queue, "not a sorted set")
    settlements = [
        done(claims[0], at(1)),
        done(claims[1], at(1), reschedule=message("b", at(1))),
        done(claims[2], at(1)),
    ]

    with pytest.raises(aredis.ResponseError):
        await engine.settle(settlements, at(1))

    record = await engine.get_record("a", at(1))
    assert record is not None and record.state is S.COMPLETED
    # "b" and "c" were never settled: they keep their leases, and are
    # redelivered once those expire, instead of staying RUNNING for ever.
    await raw(engine).delete(engine.keys.queue)
    again = (await engine.claim("x", 5, at(31), at(61))).claims
    assert [(c.record.key, c.redelivered) for c in again if c.record] == [
        ("b", True),
        ("c", True),
    ]


async def test_commandstats_count_one_evalsha_per_schedule(
    real: RedisEngine, redis_server_url: str
) -> None:
    client = aredis.Redis.from_url(redis_server_url)
    try:
        await real.get_record("warm-up", at(0))
        before = (await client.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
        for i in range(10):
            await real.schedule(message(f"k{i}"), at(0), replace=False)
        after = (await client.info("commandstats"))["cmdstat_evalsha"]["calls"]
    finally:
        await client.aclose()
    # Other tests' engines may share the server, but none run concurrently.
    assert after - before == 10


# --- malformed storage -----------------------------------------------------------------


async def test_malformed_entry_is_handed_out_and_can_be_set_aside(engine: RedisEngine) -> None:
    await raw(engine).xadd(engine.keys.stream, {"junk": "x", "bytes": b"\xff\x00"})
    await engine.schedule(message("good"), at(0), replace=False)

    batch = await engine.claim("w", 10, at(0), at(30))

    bad = [c for c in batch.claims if c.record is None]
    good = [c for c in batch.claims if c.record is not None]
    assert len(bad) == 1 and len(good) == 1
    assert bad[0].raw == {"junk": "x", "bytes": "\\xff\x00"}
    assert bad[0].problem and "key" in bad[0].problem
    assert (await engine.counts(at(0))).running == 2

    await engine.set_aside(bad[0].delivery, "not a docket message", at(1), TTL)

    [letter] = await engine.dead_letters()
    assert letter.reason == "not a docket message" and letter.key is None
    assert letter.set_aside_at == at(1)
    assert letter.fields["junk"] == "x" and letter.fields["delivery"] == bad[0].delivery
    assert await engine.renew("w", [bad[0].delivery], at(60)) == {bad[0].delivery}
    assert (await engine.counts(at(1))).running == 1
    assert (await engine.claim("x", 10, at(100), at(130))).claims[0].delivery == good[0].delivery


async def test_malformed_entry_not_set_aside_is_redelivered(engine: RedisEngine) -> None:
    await raw(engine).xadd(engine.keys.stream, {"junk": "x"})
    first = (await engine.claim("a", 10, at(0), at(30))).claims
    assert len(first) == 1 and first[0].record is None

    again = (await engine.claim("b", 10, at(30), at(60))).claims

    assert len(again) == 1 and again[0].record is None and again[0].redelivered
    assert again[0].delivery == first[0].delivery


async def test_unreadable_record_is_handed_out_as_a_problem(engine: RedisEngine) -> None:
    scheduled = await engine.schedule(message("k"), at(0), replace=False)
    await raw(engine).hset(engine.keys.record("k"), "when", "not a number")

    [claim] = (await engine.claim("w", 10, at(0), at(30))).claims

    assert claim.record is None and claim.problem and "unreadable" in claim.problem
    assert claim.raw["key"] == "k"
    assert claim.raw["generation"] == str(scheduled.record.generation)
    # Without a key, the delivery's entry names the record, which then fails
    # rather than keeping its key live forever.
    await engine.set_aside(claim.delivery, claim.problem, at(1), TTL)
    state = await raw(engine).hget(engine.keys.record("k"), "state")
    assert state == b"failed"
    assert [d.key for d in await engine.dead_letters()] == ["k"]


@pytest.mark.parametrize("due", ["now", "later"])
async def test_a_record_written_over_with_a_non_hash_is_handed_out_to_set_aside(
    engine: RedisEngine, due: str
) -> None:
    when = at(0) if due == "now" else at(10)
    for key in ("a", "b", "c"):
        await engine.schedule(message(key, when), at(0), replace=False)
    await raw(engine).set(engine.keys.record("b"), "not a hash")

    # Neither the promotion of due work nor the claim fails on it, and the
    # work beside it is claimed as usual.
    claims = (await engine.claim("w", 3, when, when + timedelta(seconds=30))).claims

    assert [c.record.key if c.record else None for c in claims] == ["a", None, "c"]
    bad = claims[1]
    assert bad.problem is not None and "not a hash" in bad.problem
    assert bad.raw["key"] == "b"
    await engine.set_aside(bad.delivery, bad.problem, when, TTL)
    [letter] = await engine.dead_letters()
    assert letter.key == "b" and "not a hash" in letter.reason
    # Its outcome cannot be stored, and says so; the others' are.
    assert await engine.settle([done(claims[0], when), done(claims[2], when)], when) == [True, True]
    assert await raw(engine).get(engine.keys.record("b")) == b"not a hash"


async def test_handing_back_work_whose_record_was_written_over_keeps_it_leased(
    engine: RedisEngine,
) -> None:
    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    claims = (await engine.claim("w", 2, at(0), at(30))).claims
    await raw(engine).set(engine.keys.record("a"), "not a hash")

    assert await engine.release("w", [c.delivery for c in claims], at(1)) == 1

    # "b" is queued again; "a" comes back once its lease expires, to be set aside.
    [b] = (await engine.claim("x", 5, at(2), at(32))).claims
    assert b.record is not None and b.record.key == "b"
    [a] = (await engine.claim("x", 5, at(31), at(61))).claims
    assert a.record is None and a.redelivered and a.raw["key"] == "a"


async def test_snapshot_and_clear_pass_over_a_record_written_over(engine: RedisEngine) -> None:
    for key, when in (("a", at(0)), ("b", at(0)), ("c", at(10)), ("d", at(10))):
        await engine.schedule(message(key, when), at(0), replace=False)
    for key in ("b", "d"):
        await raw(engine).set(engine.keys.record(key), "not a hash")

    snapshot = await engine.snapshot(at(0))
    assert [r.key for r in snapshot.queued] == ["a"]
    assert [r.key for r in snapshot.future] == ["c"]
    assert await engine.clear(at(1), TTL) == 2
    counts = await engine.counts(at(1))
    assert counts.total == 0


async def test_an_outcome_for_a_record_written_over_is_not_applied(engine: RedisEngine) -> None:
    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    claims = (await engine.claim("w", 2, at(0), at(30))).claims
    await raw(engine).set(engine.keys.record("a"), "not a hash")

    assert await engine.settle([done(c, at(1)) for c in claims], at(1)) == [False, True]
    # Both deliveries are acknowledged: nothing is redelivered.
    assert (await engine.claim("x", 5, at(31), at(61))).claims == []


# --- clocks far from the wall clock ----------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        datetime(1971, 2, 3, 4, 5, 6, 7000, tzinfo=timezone.utc),
        datetime(9000, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc),
    ],
    ids=["past", "future"],
)
async def test_virtual_time_far_from_the_wall_clock(engine: RedisEngine, start: datetime) -> None:
    late = start + timedelta(days=30)
    await engine.schedule(message("k", late), start, replace=False)
    assert await engine.claim("w", 1, start, start + LEASE) is not None
    assert (await engine.get_record("k", start)).state is S.SCHEDULED  # type: ignore[union-attr]

    [claim] = (await engine.claim("w", 1, late, late + LEASE)).claims
    assert claim.record is not None and claim.record.when == late
    assert claim.record.started_at == late
    await engine.settle([done(claim, late)], late)

    record = await engine.get_record("k", late + TTL - timedelta(milliseconds=1))
    assert record is not None and record.expires_at == late + TTL
    assert await engine.get_record("k", late + TTL) is None
    # Redis only collects it later, relative to its own clock.
    ttl_ms = await raw(engine).pttl(engine.keys.record("k"))
    assert (
        int(TTL.total_seconds() * 1000)
        < ttl_ms
        <= 2 * int(TTL.total_seconds() * 1000) + GC_MARGIN_MS
    )


# --- waking -----------------------------------------------------------------------------


async def test_wait_for_work_wakes_on_an_xadd_from_another_client(
    real: RedisEngine, redis_server_url: str
) -> None:
    batch = await real.claim("w", 10, at(0), at(30))
    waiter = asyncio.create_task(real.wait_for_work(batch.cursor))
    await asyncio.sleep(0.05)
    assert not waiter.done()

    other = aredis.Redis.from_url(redis_server_url)
    try:
        await other.xadd(real.keys.wake, {"wake": "1"})
    finally:
        await other.aclose()

    await asyncio.wait_for(waiter, GUARD)


async def test_wait_for_work_wakes_on_work_from_another_process(
    real: RedisEngine, redis_server_url: str
) -> None:
    # Another URL string for the same server: no in-process signal is shared,
    # as for a producer in another process.
    other_url = redis_server_url + ("&" if "?" in redis_server_url else "?") + "client_name=other"
    producer = RedisEngine.from_url(other_url, real.name)
    await producer.open()
    try:
        batch = await real.claim("w", 10, at(0), at(30))
        waiter = asyncio.create_task(real.wait_for_work(batch.cursor))
        await asyncio.sleep(0.05)
        assert not waiter.done()

        await producer.schedule(message("k"), at(0), replace=False)

        await asyncio.wait_for(waiter, GUARD)
        [claim] = (await real.claim("w", 10, at(0), at(30))).claims
        assert claim.record is not None and claim.record.key == "k"

        # Future work that becomes the earliest wakes waiters too, so they
        # can shorten their sleep.
        batch = await real.claim("w", 10, at(0), at(30))
        waiter = asyncio.create_task(real.wait_for_work(batch.cursor))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await producer.schedule(message("later", at(5)), at(0), replace=False)
        await asyncio.wait_for(waiter, GUARD)
    finally:
        await producer.close()


async def test_wait_for_work_is_cancel_safe_and_shares_one_read(real: RedisEngine) -> None:
    batch = await real.claim("w", 10, at(0), at(30))
    reader = real._session.reader
    assert reader is not None

    for _ in range(5):
        waiter = asyncio.create_task(real.wait_for_work(batch.cursor))
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    read = reader._task
    assert read is not None and not read.done()

    waiters = [asyncio.create_task(real.wait_for_work(batch.cursor)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert reader._task is read  # still the one read in flight
    await real.schedule(message("k"), at(0), replace=False)
    await asyncio.wait_for(asyncio.gather(*waiters), GUARD)
    # The command connections were never disturbed.
    assert len((await real.claim("w", 10, at(0), at(30))).claims) == 1


async def test_blocking_reads_ignore_the_urls_socket_timeout(redis_server_url: str) -> None:
    # The URL's socket timeout bounds commands, never the blocking read.
    engine = RedisEngine.from_url(
        redis_server_url + "?socket_timeout=0.3", f"timeouts-{uuid.uuid4().hex}"
    )
    await engine.open()
    try:
        batch = await engine.claim("w", 10, at(0), at(30))
        waiter = asyncio.create_task(engine.wait_for_work(batch.cursor))
        await asyncio.sleep(0.6)
        assert engine._session.reader is not None and engine._session.reader._task is not None
        assert not engine._session.reader._task.done() and not waiter.done()
        await engine.schedule(message("k"), at(0), replace=False)
        await asyncio.wait_for(waiter, GUARD)
    finally:
        await engine.close()


async def test_wait_returns_at_once_while_queued_work_is_left(engine: RedisEngine) -> None:
    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    batch = await engine.claim("w", 1, at(0), at(30))
    await asyncio.wait_for(engine.wait_for_work(batch.cursor), GUARD)
    await asyncio.wait_for(engine.wait_for_work(None), GUARD)


async def test_fakeredis_wait_does_not_spin() -> None:
    url = f"fakeredis://{uuid.uuid4().hex}"
    consumer, producer = RedisEngine.from_url(url, "d"), RedisEngine.from_url(url, "d")
    for engine in (consumer, producer):
        await engine.open()
    try:
        batch = await consumer.claim("w", 10, at(0), at(30))
        waiter = asyncio.create_task(consumer.wait_for_work(batch.cursor))
        for _ in range(100):
            await asyncio.sleep(0)
        # Still waiting, and not by reissuing reads: fakeredis's BLOCK returns
        # at once, so only the in-process signal can wake it.
        assert not waiter.done()
        assert consumer._session.reader is not None and consumer._session.reader._task is None
        await producer.schedule(message("k"), at(0), replace=False)
        await asyncio.wait_for(waiter, GUARD)
    finally:
        for engine in (consumer, producer):
            await engine.close()


async def test_close_stops_the_read_and_releases_connections(redis_server_url: str) -> None:
    observer = aredis.Redis.from_url(redis_server_url)
    try:
        before = len(await observer.client_list())
        engine = RedisEngine.from_url(redis_server_url, f"closing-{uuid.uuid4().hex}")
        await engine.open()
        batch = await engine.claim("w", 10, at(0), at(30))
        waiter = asyncio.create_task(engine.wait_for_work(batch.cursor))
        await asyncio.sleep(0.05)
        assert len(await observer.client_list()) > before
        read = engine._session.reader._task  # type: ignore[union-attr]

        await engine.close()

        assert read is not None and read.done()
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        for _ in range(100):
            if len(await observer.client_list()) == before:
                break
            await asyncio.sleep(0.01)
        assert len(await observer.client_list()) == before
    finally:
        await observer.aclose()


# --- events ----------------------------------------------------------------------------


async def test_subscription_is_active_on_entry_and_released_on_exit(
    real: RedisEngine,
) -> None:
    channel = real.keys.channel("k")
    client = raw(real)
    async with real.subscribe("k"):
        assert await client.pubsub_numsub(channel) == [(channel.encode(), 1)]
    # The connection is closed without waiting for the server to notice.
    for _ in range(200):
        if await client.pubsub_numsub(channel) == [(channel.encode(), 0)]:
            break
        await asyncio.sleep(0.005)
    assert await client.pubsub_numsub(channel) == [(channel.encode(), 0)]


async def test_events_survive_awkward_text(engine: RedisEngine) -> None:
    key = 'we"ird\\key/ü'
    error = 'ValueError: "quoted" \\ back\nslash \u2603'
    async with engine.subscribe(key) as events:
        await engine.schedule(message(key), at(0), replace=False)
        [claim] = (await engine.claim("w", 1, at(0), at(30))).claims
        await engine.settle([done(claim, at(1), state=S.FAILED, error=error)], at(1))
        seen = [await asyncio.wait_for(events.__anext__(), GUARD) for _ in range(3)]
    assert all(isinstance(e, StateChange) for e in seen)
    states = cast("list[StateChange]", seen)
    assert [(e.key, e.state) for e in states] == [
        (key, S.QUEUED),
        (key, S.RUNNING),
        (key, S.FAILED),
    ]
    assert states[2].error == error


async def test_strike_watchers_hear_every_change(engine: RedisEngine) -> None:
    async with engine.watch_strikes() as changes:
        await engine.update_strikes("a", b"rule-a")
        await engine.update_strikes("a", None)
        for _ in range(2):
            await asyncio.wait_for(changes.__anext__(), GUARD)
    assert await engine.strikes() == {}


# --- recovery ----------------------------------------------------------------------------


async def test_deleted_stream_and_group_are_recreated(engine: RedisEngine) -> None:
    await raw(engine).delete(engine.keys.stream)
    await engine.schedule(message("k"), at(0), replace=False)
    [claim] = (await engine.claim("w", 1, at(0), at(30))).claims
    assert claim.record is not None
    assert await engine.settle([done(claim, at(1))], at(1)) == [True]


async def test_flushed_scripts_are_reloaded(engine: RedisEngine) -> None:
    await raw(engine).script_flush()
    result = await engine.schedule(message("k"), at(0), replace=False)
    assert result.disposition is Disposition.SCHEDULED


async def test_idle_consumers_are_forgotten(engine: RedisEngine) -> None:
    client = raw(engine)

    async def consumers() -> set[bytes]:
        return {c["name"] for c in await client.xinfo_consumers(engine.keys.stream, GROUP)}

    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    [a] = (await engine.claim("gone", 1, at(0), at(30))).claims
    [b] = (await engine.claim("busy", 1, at(0), at(30))).claims
    assert await consumers() == {b"gone", b"busy"}

    # A consumer holding a pending delivery stays (deleting it would drop the
    # delivery from the group); one holding none goes.
    await engine.settle([done(a, at(1))], at(1))
    await engine.retire("gone")
    await engine.retire("busy")
    assert await consumers() == {b"busy"}
    await engine.heartbeat("other", frozenset(), at(2), timedelta(seconds=60))
    assert await consumers() == {b"busy"}

    await engine.settle([done(b, at(3))], at(3))
    await engine.heartbeat("other", frozenset(), at(4), timedelta(seconds=60))
    assert await consumers() == set()


# --- opening ----------------------------------------------------------------------------


async def test_fakeredis_urls_share_a_server_per_url() -> None:
    name = uuid.uuid4().hex
    a = RedisEngine.from_url(f"fakeredis://{name}", "d")
    b = RedisEngine.from_url(f"fakeredis://{name}", "d")
    c = RedisEngine.from_url(f"fakeredis://{name}-other", "d")
    for engine in (a, b, c):
        await engine.open()
    try:
        await a.schedule(message("k"), at(0), replace=False)
        assert await b.get_record("k", at(0)) is not None
        assert await c.get_record("k", at(0)) is None
    finally:
        for engine in (a, b, c):
            await engine.close()


async def test_fakeredis_missing_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fakeredis", None)
    engine = RedisEngine.from_url(f"fakeredis://{uuid.uuid4().hex}", "d")
    with pytest.raises(ImportError, match=r"pydocket\[fake\]"):
        await engine.open()


def test_other_schemes_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot open"):
        RedisEngine.from_url("memory://x", "d")


async def test_operations_need_open(redis_server_url: str) -> None:
    engine = RedisEngine.from_url(redis_server_url, "unopened")
    with pytest.raises(RuntimeError, match="not open"):
        await engine.get_record("k", at(0))


async def test_concurrent_calls_share_a_bounded_pool(
    real: RedisEngine, redis_server_url: str
) -> None:
    from docket.engines.redis.connections import COMMAND_CONNECTIONS

    results = await asyncio.gather(
        *(real.schedule(message(f"k{i}"), at(0), replace=False) for i in range(500))
    )

    assert {r.disposition for r in results} == {Disposition.SCHEDULED}
    observer = aredis.Redis.from_url(redis_server_url)
    try:
        clients = await observer.client_list()
    finally:
        await observer.aclose()
    # Other tests' engines are closed by now; allow for the observer itself.
    assert len(clients) <= COMMAND_CONNECTIONS + 1


async def test_stored_record_layout(engine: RedisEngine) -> None:
    await engine.schedule(
        TaskMessage("k", "fn", b"\x00\xff", at(1), 2, {"h": "v"}), at(0), replace=False
    )
    stored = await raw(engine).hgetall(engine.keys.record("k"))
    assert stored[b"payload"] == b"\x00\xff"
    assert stored[b"when"] == str(epoch_ms(at(1))).encode()
    assert json.loads(stored[b"headers"]) == {"h": "v"}
    assert stored[b"state"] == b"scheduled" and stored[b"attempt"] == b"2"


async def test_cancellation_is_never_swallowed_by_a_command_in_flight(real: RedisEngine) -> None:
    # redis-py sends under asyncio.wait_for when given a socket timeout, which
    # before Python 3.12 can drop a cancellation that lands as the send ends.
    # (Real server only: fakeredis answers without ever yielding to the loop.)
    engine = real

    async def busy() -> None:
        while True:
            await engine.claim("w", 10, at(0), at(30))
            await engine.get_record("k", at(0))

    for i in range(60):
        task = asyncio.create_task(busy())
        for _ in range(i % 12):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=GUARD)
        assert done and task.cancelled(), f"cancellation {i} was swallowed"


async def test_progress_round_trips_and_is_fenced(engine: RedisEngine) -> None:
    from docket.engines.base import ProgressChange, ProgressState, ProgressUpdate

    await engine.schedule(message("k"), at(0), replace=False)
    assert await engine.report_progress("k", 1, ProgressUpdate(increment=1)) is None
    [claim] = (await engine.claim("w", 1, at(0), at(30))).claims
    assert claim.record is not None
    generation = claim.record.generation

    async with engine.subscribe("k") as events:
        first = await engine.report_progress("k", generation, ProgressUpdate(total=10))
        second = await engine.report_progress(
            "k", generation, ProgressUpdate(increment=3, message='"half" \\ way')
        )
        seen = [await asyncio.wait_for(events.__anext__(), GUARD) for _ in range(2)]

    assert first == ProgressState(current=0, total=10, message=None)
    assert second == ProgressState(current=3, total=10, message='"half" \\ way')
    assert seen == [ProgressChange("k", generation, first), ProgressChange("k", generation, second)]
    record = await engine.get_record("k", at(0))
    assert record is not None and record.progress == second
    assert await engine.report_progress("k", generation + 1, ProgressUpdate(increment=1)) is None

    # A new schedule of the key starts its progress again.
    await engine.settle([done(claim, at(1))], at(1))
    again = await engine.schedule(message("k"), at(2), replace=False)
    assert again.record.progress == ProgressState()
    assert (await engine.get_record("k", at(2))).progress == ProgressState()  # type: ignore[union-attr]


async def test_work_a_claim_queues_but_does_not_read_can_still_be_cancelled(
    engine: RedisEngine,
) -> None:
    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    # An older unread entry in the stream: the claim's read reaches it first,
    # so the entry it adds for "a" stays unread, still queued.
    await raw(engine).xadd(engine.keys.stream, {"not": "docket's"})

    batch = await engine.claim("w", 1, at(0), at(30))

    assert [claim.record for claim in batch.claims] == [None]
    record = await raw(engine).hgetall(engine.keys.record("a"))
    assert record[b"state"] == b"queued" and b"message_id" in record
    assert await engine.cancel("a", at(1), timedelta(minutes=1))
    assert await raw(engine).xlen(engine.keys.stream) == 1  # only the foreign entry
    again = (await engine.claim("w", 5, at(2), at(32))).claims
    assert [claim.record.key for claim in again if claim.record] == ["b"]
