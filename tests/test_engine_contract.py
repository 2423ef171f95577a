"""The Engine protocol's documented semantics, checked black-box on every engine.

Every time-dependent call gets an explicit, millisecond-aligned ``now``; nothing
sleeps on the wall clock (``asyncio.wait_for`` timeouts only guard against hangs).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone

import pytest

from docket.engines.base import (
    ENGINE_OPERATIONS,
    Claim,
    Engine,
    ExecutionRecord,
    Settlement,
    SlotWait,
    StateChange,
    TaskMessage,
)
from docket.engines.memory import MemoryEngine
from docket.states import Disposition, ExecutionState

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=30)
TTL = timedelta(minutes=15)
HANG_GUARD = 10.0

EngineFactory = Callable[..., Awaitable[Engine]]

S = ExecutionState


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def message(
    key: str,
    when: datetime = T0,
    *,
    function: str = "task",
    payload: bytes = b"\x00payload\xff",
    attempt: int = 1,
    headers: dict[str, str] | None = None,
) -> TaskMessage:
    return TaskMessage(key, function, payload, when, attempt, headers or {})


def done(
    claim: Claim,
    when: datetime,
    *,
    state: ExecutionState = S.COMPLETED,
    ttl: timedelta = TTL,
    result: bytes | None = None,
    error: str | None = None,
    reschedule: TaskMessage | None = None,
) -> Settlement:
    assert claim.record is not None
    return Settlement(
        delivery=claim.delivery,
        key=claim.record.key,
        generation=claim.record.generation,
        state=state,
        completed_at=when,
        ttl=ttl,
        result=result,
        error=error,
        reschedule=reschedule,
    )


async def claim_keys(
    engine: Engine, now: datetime, worker: str = "w", count: int = 100
) -> list[str]:
    batch = await engine.claim(worker, count, now, now + LEASE)
    return [c.record.key for c in batch.claims if c.record is not None]


async def claim_one(engine: Engine, now: datetime, worker: str = "w") -> Claim:
    batch = await engine.claim(worker, 1, now, now + LEASE)
    assert len(batch.claims) == 1, batch
    return batch.claims[0]


async def next_event(events: AsyncIterator[StateChange]) -> StateChange:
    return await asyncio.wait_for(events.__anext__(), HANG_GUARD)


# --- the protocol itself -------------------------------------------------------------


def test_memory_engine_defines_every_operation_itself() -> None:
    assert {"schedule", "claim", "settle", "subscribe", "open", "close"} <= set(ENGINE_OPERATIONS)
    missing = [name for name in ENGINE_OPERATIONS if name not in vars(MemoryEngine)]
    assert missing == []


async def test_engine_satisfies_protocol(engine: Engine) -> None:
    assert isinstance(engine, Engine)
    assert isinstance(engine.name, str) and isinstance(engine.url, str)


# --- schedule --------------------------------------------------------------------------


async def test_due_work_is_queued_and_round_trips(engine: Engine) -> None:
    sent = message("k", at(0), payload=b"\x00\x01bytes", attempt=3, headers={"traceparent": "x"})
    result = await engine.schedule(sent, at(0), replace=False)

    assert result.disposition is Disposition.SCHEDULED
    record = result.record
    assert record.state is S.QUEUED
    assert (record.key, record.function_name, record.payload) == ("k", "task", b"\x00\x01bytes")
    assert (record.when, record.attempt, dict(record.headers)) == (at(0), 3, {"traceparent": "x"})
    assert record.generation >= 1
    assert (record.worker, record.started_at, record.completed_at, record.expires_at) == (None,) * 4
    assert await engine.get_record("k", at(0)) == record


async def test_future_work_is_scheduled(engine: Engine) -> None:
    result = await engine.schedule(message("k", at(10)), at(0), replace=False)
    assert result.record.state is S.SCHEDULED
    assert await claim_keys(engine, at(9.999)) == []


async def test_missing_key_reads_as_none(engine: Engine) -> None:
    assert await engine.get_record("nope", at(0)) is None


async def test_generations_grow_with_every_schedule(engine: Engine) -> None:
    a = await engine.schedule(message("a"), at(0), replace=False)
    b = await engine.schedule(message("b"), at(0), replace=False)
    c = await engine.schedule(message("a", at(5)), at(0), replace=True)
    assert a.record.generation < b.record.generation < c.record.generation


@pytest.mark.parametrize("live_state", [S.SCHEDULED, S.QUEUED, S.RUNNING])
async def test_live_key_is_already_scheduled(engine: Engine, live_state: ExecutionState) -> None:
    when = at(10) if live_state is S.SCHEDULED else at(0)
    await engine.schedule(message("k", when), at(0), replace=False)
    if live_state is S.RUNNING:
        await claim_one(engine, at(0))
    live = await engine.get_record("k", at(0))
    assert live is not None and live.state is live_state

    result = await engine.schedule(message("k", at(0), payload=b"other"), at(0), replace=False)

    assert result.disposition is Disposition.ALREADY_SCHEDULED
    assert result.record == live
    assert await engine.get_record("k", at(0)) == live


async def test_key_is_reusable_after_it_ends(engine: Engine) -> None:
    first = await engine.schedule(message("k"), at(0), replace=False)
    claim = await claim_one(engine, at(0))
    assert await engine.settle([done(claim, at(1))], at(1)) == [True]

    again = await engine.schedule(message("k", payload=b"two"), at(2), replace=False)

    assert again.disposition is Disposition.SCHEDULED
    assert again.record.generation > first.record.generation
    assert again.record.payload == b"two" and again.record.state is S.QUEUED


async def test_returned_records_are_snapshots(engine: Engine) -> None:
    scheduled = (await engine.schedule(message("k"), at(0), replace=False)).record
    await claim_one(engine, at(0))
    assert scheduled.state is S.QUEUED and scheduled.worker is None


# --- replace ---------------------------------------------------------------------------


async def test_replace_withdraws_queued_work(engine: Engine) -> None:
    old = await engine.schedule(message("k", payload=b"old"), at(0), replace=False)
    new = await engine.schedule(message("k", at(10), payload=b"new"), at(0), replace=True)

    assert new.disposition is Disposition.SCHEDULED
    assert new.record.generation > old.record.generation
    assert new.record.state is S.SCHEDULED
    assert await claim_keys(engine, at(0)) == []
    claim = await claim_one(engine, at(10))
    assert claim.record is not None and claim.record.payload == b"new"
    assert await claim_keys(engine, at(20)) == []


async def test_replace_withdraws_scheduled_work(engine: Engine) -> None:
    await engine.schedule(message("k", at(10), payload=b"old"), at(0), replace=False)
    await engine.schedule(message("k", at(20), payload=b"new"), at(0), replace=True)

    assert await claim_keys(engine, at(15)) == []
    claim = await claim_one(engine, at(20))
    assert claim.record is not None and claim.record.payload == b"new"
    assert (await engine.counts(at(20))).total == 1


async def test_replace_of_missing_key_just_schedules(engine: Engine) -> None:
    result = await engine.schedule(message("k"), at(0), replace=True)
    assert result.disposition is Disposition.SCHEDULED and result.record.state is S.QUEUED


async def test_replace_fences_a_running_execution(engine: Engine) -> None:
    await engine.schedule(message("k", payload=b"old"), at(0), replace=False)
    old_claim = await claim_one(engine, at(0), "old-worker")
    new = await engine.schedule(message("k", at(0), payload=b"new"), at(1), replace=True)
    assert new.record.state is S.QUEUED

    assert await engine.settle([done(old_claim, at(2), result=b"stale")], at(2)) == [False]

    assert await engine.get_record("k", at(2)) == new.record
    assert await engine.renew("old-worker", [old_claim.delivery], at(60)) == {old_claim.delivery}
    claim = await claim_one(engine, at(3), "new-worker")
    assert claim.record is not None and claim.record.generation == new.record.generation
    assert claim.record.payload == b"new"


async def test_expired_lease_of_a_replaced_execution_is_not_redelivered(engine: Engine) -> None:
    await engine.schedule(message("k", payload=b"old"), at(0), replace=False)
    await claim_one(engine, at(0), "a")
    new = await engine.schedule(message("k", at(100)), at(1), replace=True)

    batch = await engine.claim("b", 10, at(31), at(61))

    assert batch.claims == []
    assert await engine.get_record("k", at(31)) == new.record


# --- cancel ----------------------------------------------------------------------------


@pytest.mark.parametrize("when", [at(0), at(10)], ids=["queued", "scheduled"])
async def test_cancel_pending_work(engine: Engine, when: datetime) -> None:
    scheduled = await engine.schedule(message("k", when), at(0), replace=False)

    assert await engine.cancel("k", at(1), TTL) is True

    record = await engine.get_record("k", at(1))
    assert record is not None and record.state is S.CANCELLED
    assert record.generation == scheduled.record.generation
    assert record.completed_at == at(1) and record.expires_at == at(1) + TTL
    assert await claim_keys(engine, at(20)) == []
    assert await engine.cancel("k", at(2), TTL) is False
    assert await engine.get_record("k", at(1) + TTL) is None


async def test_cancel_missing_key_is_false(engine: Engine) -> None:
    assert await engine.cancel("nope", at(0), TTL) is False


@pytest.mark.parametrize("end", [S.COMPLETED, S.FAILED, S.CANCELLED])
async def test_cancel_leaves_ended_work_alone(engine: Engine, end: ExecutionState) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    ending = await claim_one(engine, at(0))
    if end is S.CANCELLED:
        assert await engine.cancel("k", at(1), TTL) is True
    await engine.settle([done(ending, at(1), state=end)], at(1))
    before = await engine.get_record("k", at(1))
    assert before is not None and before.state is end

    assert await engine.cancel("k", at(2), TTL) is False

    assert await engine.get_record("k", at(2)) == before


async def test_cancel_with_zero_ttl_forgets_at_once_and_frees_the_key(engine: Engine) -> None:
    await engine.schedule(message("k", at(10)), at(0), replace=False)
    assert await engine.cancel("k", at(1), timedelta(0)) is True
    assert await engine.get_record("k", at(1)) is None
    result = await engine.schedule(message("k"), at(2), replace=False)
    assert result.disposition is Disposition.SCHEDULED


# --- claim -----------------------------------------------------------------------------


async def test_claim_hands_out_due_work_in_when_then_generation_order(engine: Engine) -> None:
    for key, when in [("c", at(3)), ("a1", at(1)), ("b", at(2)), ("a2", at(1)), ("a3", at(1))]:
        await engine.schedule(message(key, when), at(5), replace=False)

    assert await claim_keys(engine, at(5), count=2) == ["a1", "a2"]
    assert await claim_keys(engine, at(5)) == ["a3", "b", "c"]


async def test_promoted_work_takes_its_place_in_due_order(engine: Engine) -> None:
    await engine.schedule(message("early-future", at(3)), at(0), replace=False)
    await engine.schedule(message("later-queued", at(5)), at(5), replace=False)
    await engine.schedule(message("latest-future", at(7)), at(0), replace=False)

    assert await claim_keys(engine, at(10)) == ["early-future", "later-queued", "latest-future"]


async def test_claim_marks_records_running(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    claim = await claim_one(engine, at(1), "w1")

    assert claim.redelivered is False and claim.problem is None
    assert claim.record is not None
    assert claim.record.state is S.RUNNING
    assert (claim.record.worker, claim.record.started_at) == ("w1", at(1))
    assert await engine.get_record("k", at(1)) == claim.record
    assert await claim_keys(engine, at(1), "w2") == []


async def test_promotion_respects_now(engine: Engine) -> None:
    await engine.schedule(message("k", at(10)), at(0), replace=False)
    assert await claim_keys(engine, at(9)) == []
    assert (await engine.get_record("k", at(9))).state is S.SCHEDULED  # type: ignore[union-attr]
    assert await claim_keys(engine, at(10)) == ["k"]


async def test_promotion_respects_promote_limit(engine: Engine) -> None:
    for key in ("a", "b", "c"):
        await engine.schedule(message(key, at(1)), at(0), replace=False)

    batch = await engine.claim("w", 10, at(2), at(32), promote_limit=1)

    assert [c.record.key for c in batch.claims if c.record] == ["a"]
    counts = await engine.counts(at(2))
    assert (counts.future, counts.queued, counts.running) == (2, 0, 1)
    assert await claim_keys(engine, at(2)) == ["b", "c"]


async def test_next_wake(engine: Engine) -> None:
    batch = await engine.claim("w", 10, at(0), at(30))
    assert batch.next_wake is None

    await engine.schedule(message("future", at(60)), at(0), replace=False)
    assert (await engine.claim("w", 10, at(0), at(30))).next_wake == at(60)

    await engine.schedule(message("due"), at(0), replace=False)
    batch = await engine.claim("w", 10, at(0), at(30))
    assert len(batch.claims) == 1 and batch.next_wake == at(30)


async def test_claim_count_limits_the_batch(engine: Engine) -> None:
    for i in range(5):
        await engine.schedule(message(f"k{i}"), at(0), replace=False)
    batch = await engine.claim("w", 3, at(0), at(30))
    assert len(batch.claims) == 3
    assert len({c.delivery for c in batch.claims}) == 3
    assert (await engine.counts(at(0))).queued == 2


# --- leases ----------------------------------------------------------------------------


async def test_claims_count_only_the_runs_that_may_have_started(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    await engine.schedule(message("other"), at(0), replace=False)
    first = (await engine.claim("a", 1, at(0), at(30))).claims[0]
    assert (first.deliveries, first.redelivered, first.suspect) == (1, False, False)

    # Reclaimed: a suspect, counting the first run and this one.
    second = (await engine.claim("b", 1, at(30), at(60))).claims[0]
    assert second.delivery == first.delivery
    assert (second.deliveries, second.redelivered, second.suspect) == (2, True, True)
    assert second.record is not None and second.record.suspected
    # Reclaimed again without a counted start: the count stays.
    third = (await engine.claim("c", 1, at(60), at(90))).claims[0]
    assert (third.delivery, third.deliveries) == (first.delivery, 2)
    # A run started alone is counted, and only while its generation runs.
    await engine.count_isolated_run("k", third.record.generation + 1)  # type: ignore[union-attr]
    await engine.count_isolated_run("k", third.record.generation)  # type: ignore[union-attr]
    fourth = (await engine.claim("d", 1, at(90), at(120))).claims[0]
    assert (fourth.delivery, fourth.deliveries) == (first.delivery, 3)
    assert fourth.record is not None and fourth.record.isolated_runs == 1
    # Renewing a lease is not a run; fresh work is not suspected.
    assert await engine.renew("d", [fourth.delivery], at(150)) == set()
    fresh = (await engine.claim("d", 1, at(91), at(300))).claims[0]
    assert fresh.record is not None and fresh.record.key == "other"
    assert (fresh.deliveries, fresh.suspect) == (1, False)
    # Handed back, the work is delivered afresh but stays a suspect, its count kept.
    await engine.release("d", [fourth.delivery], at(121))
    again = (await engine.claim("e", 1, at(122), at(152))).claims[0]
    assert again.record is not None and again.record.key == "k"
    assert (again.deliveries, again.redelivered, again.suspect) == (3, False, True)
    # Its next run (a retry, say) is a new execution: no suspicion carried over.
    retry_message = message("k", at(124), attempt=2)
    assert await engine.settle([done(again, at(123), reschedule=retry_message)], at(123)) == [True]
    retry = (await engine.claim("e", 1, at(124), at(180))).claims[0]
    assert retry.record is not None and retry.record.key == "k"
    assert (retry.deliveries, retry.suspect, retry.record.isolated_runs) == (1, False, 0)


async def test_expired_lease_is_redelivered_to_another_worker(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    first = (await engine.claim("a", 1, at(0), at(30))).claims[0]
    assert (await engine.claim("b", 1, at(29.999), at(59.999))).claims == []

    batch = await engine.claim("b", 1, at(30), at(60))

    assert len(batch.claims) == 1
    again = batch.claims[0]
    assert again.redelivered is True
    assert again.record is not None and first.record is not None
    assert (again.record.key, again.record.generation) == ("k", first.record.generation)
    assert again.record.state is S.RUNNING and again.record.worker == "b"
    assert again.record.started_at == at(0)
    assert await engine.renew("a", [first.delivery], at(90)) == {first.delivery}
    assert await engine.settle([done(again, at(31))], at(31)) == [True]


async def test_renew_extends_held_leases_and_reports_lost_ones(engine: Engine) -> None:
    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    batch = await engine.claim("w", 2, at(0), at(30))
    kept, settled = batch.claims
    await engine.settle([done(settled, at(1))], at(1))

    assert await engine.renew("w", [kept.delivery, settled.delivery], at(100)) == {settled.delivery}
    assert await engine.renew("other", [kept.delivery], at(200)) == {kept.delivery}
    assert (await engine.claim("x", 10, at(50), at(80))).claims == []
    assert len((await engine.claim("x", 10, at(100), at(130))).claims) == 1


async def test_settle_and_claim_settles_first_then_claims(engine: Engine) -> None:
    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    first, second = (await engine.claim("w", 2, at(0), at(30))).claims
    again = message("a", at(1), attempt=2)

    applied, batch = await engine.settle_and_claim(
        [done(first, at(1), reschedule=again), done(second, at(1), result=b"r")],
        "w",
        5,
        at(1),
        at(31),
    )

    assert applied == [True, True]
    # The claim saw the settle: the rescheduled run, due now, is claimed by it.
    assert [c.record.key for c in batch.claims if c.record] == ["a"]
    assert batch.claims[0].record is not None and batch.claims[0].record.attempt == 2
    record = await engine.get_record("b", at(1))
    assert record is not None and (record.state, record.result) == (S.COMPLETED, b"r")


async def test_settle_and_claim_with_nothing_to_settle_only_claims(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    applied, batch = await engine.settle_and_claim([], "w", 1, at(0), at(30))
    assert applied == [] and len(batch.claims) == 1
    stale = done(batch.claims[0], at(1))
    await engine.settle([stale], at(1))
    applied, batch = await engine.settle_and_claim([stale], "w", 1, at(2), at(32))
    assert applied == [False] and batch.claims == []


# --- release ---------------------------------------------------------------------------


async def test_release_returns_unstarted_work_to_its_place_in_the_queue(engine: Engine) -> None:
    for index, key in enumerate(("a", "b", "c")):
        await engine.schedule(message(key, at(index)), at(5), replace=False)
    held = (await engine.claim("w", 2, at(5), at(35))).claims
    assert [c.record.key for c in held if c.record] == ["a", "b"]

    assert await engine.release("w", [c.delivery for c in held], at(6)) == 2

    record = await engine.get_record("a", at(6))
    assert held[0].record is not None and record is not None
    assert record.state is S.QUEUED
    assert (record.worker, record.started_at) == (None, None)
    assert (record.generation, record.when, record.attempt) == (
        held[0].record.generation,
        at(0),
        1,
    )
    counts = await engine.counts(at(6))
    assert (counts.queued, counts.running) == (3, 0)
    # Released work keeps its place: due order is a, b, c again, each claimed afresh.
    again = (await engine.claim("x", 3, at(7), at(37))).claims
    assert [c.record.key for c in again if c.record] == ["a", "b", "c"]
    assert [c.redelivered for c in again] == [False, False, False]
    assert all(c.record is not None and c.record.started_at == at(7) for c in again)
    # The released deliveries are forgotten: no lease of them is left to expire or renew.
    assert await engine.renew("w", [c.delivery for c in held], at(100)) == {
        c.delivery for c in held
    }
    assert await engine.settle([done(c, at(8)) for c in again], at(8)) == [True] * 3
    assert (await engine.claim("y", 10, at(500), at(530))).claims == []


async def test_settle_keeps_the_real_start_of_a_held_run(engine: Engine) -> None:
    await engine.schedule(message("held"), at(0), replace=False)
    await engine.schedule(message("direct"), at(0), replace=False)
    held, direct = (await engine.claim("w", 2, at(1), at(31))).claims
    late = Settlement(**{**vars(done(held, at(9))), "started_at": at(5)})

    assert await engine.settle([late, done(direct, at(9))], at(9)) == [True, True]

    held_record = await engine.get_record("held", at(9))
    direct_record = await engine.get_record("direct", at(9))
    assert held_record is not None and direct_record is not None
    assert (held_record.started_at, held_record.completed_at) == (at(5), at(9))
    assert direct_record.started_at == at(1)


async def test_release_ignores_deliveries_the_worker_no_longer_holds(engine: Engine) -> None:
    await engine.schedule(message("gone"), at(0), replace=False)
    await engine.schedule(message("taken"), at(0), replace=False)
    gone, taken = (await engine.claim("w", 2, at(0), at(30))).claims
    await engine.settle([done(gone, at(1))], at(1))
    reclaimed = await claim_one(engine, at(31), "other")
    assert reclaimed.delivery == taken.delivery

    assert await engine.release("w", [gone.delivery, taken.delivery, "no-such"], at(32)) == 0

    assert (await engine.get_record("gone", at(32))).state is S.COMPLETED  # type: ignore[union-attr]
    record = await engine.get_record("taken", at(32))
    assert record is not None and (record.state, record.worker) == (S.RUNNING, "other")
    assert await engine.release("w", [], at(32)) == 0


async def test_release_of_replaced_work_forgets_the_stale_delivery(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    stale = await claim_one(engine, at(0))
    fresh = await engine.schedule(message("k", at(50)), at(1), replace=True)

    assert await engine.release("w", [stale.delivery], at(2)) == 0

    record = await engine.get_record("k", at(2))
    assert record is not None
    assert (record.state, record.generation) == (S.SCHEDULED, fresh.record.generation)
    assert (await engine.claim("w", 10, at(40), at(70))).claims == []


async def test_release_wakes_a_waiting_worker(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    batch = await engine.claim("w", 1, at(0), at(30))
    empty = await engine.claim("x", 1, at(0), at(30))
    assert empty.claims == []
    waiting = asyncio.ensure_future(engine.wait_for_work(empty.cursor))
    await asyncio.sleep(0)

    await engine.release("w", [batch.claims[0].delivery], at(1))

    await asyncio.wait_for(waiting, HANG_GUARD)
    assert len((await engine.claim("x", 1, at(1), at(31))).claims) == 1


async def test_subscribe_sees_a_release(engine: Engine) -> None:
    async with engine.subscribe("k") as events:
        first = await engine.schedule(message("k"), at(0), replace=False)
        claim = await claim_one(engine, at(0))
        await engine.release("w", [claim.delivery], at(1))
        seen = [await next_event(events) for _ in range(3)]
    generation = first.record.generation
    assert [(e.state, e.generation) for e in seen] == [
        (S.QUEUED, generation),
        (S.RUNNING, generation),
        (S.QUEUED, generation),
    ]


# --- settle ----------------------------------------------------------------------------


async def test_settle_completed_with_result_and_expiry(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    claim = await claim_one(engine, at(1), "w")

    assert await engine.settle([done(claim, at(2), result=b"\x00result\xff")], at(2)) == [True]

    record = await engine.get_record("k", at(2))
    assert record is not None and record.state is S.COMPLETED
    assert record.result == b"\x00result\xff" and record.error is None
    assert (record.worker, record.started_at, record.completed_at) == ("w", at(1), at(2))
    assert record.expires_at == at(2) + TTL
    assert await engine.get_record("k", at(2) + TTL - timedelta(milliseconds=1)) == record
    assert await engine.get_record("k", at(2) + TTL) is None
    assert await engine.renew("w", [claim.delivery], at(100)) == {claim.delivery}
    assert (await engine.counts(at(2))).total == 0


async def test_settle_failed_with_error(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    claim = await claim_one(engine, at(0))
    settlement = done(claim, at(1), state=S.FAILED, error="ValueError: boom")
    assert await engine.settle([settlement], at(1)) == [True]
    record = await engine.get_record("k", at(1))
    assert record is not None and record.state is S.FAILED and record.error == "ValueError: boom"


async def test_settle_with_zero_ttl_forgets_at_once(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    claim = await claim_one(engine, at(0))
    assert await engine.settle([done(claim, at(1), ttl=timedelta(0))], at(1)) == [True]
    assert await engine.get_record("k", at(1)) is None


async def test_settle_is_applied_once(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    claim = await claim_one(engine, at(0))
    assert await engine.settle([done(claim, at(1))], at(1)) == [True]
    assert await engine.settle([done(claim, at(2), state=S.FAILED, error="late")], at(2)) == [False]
    record = await engine.get_record("k", at(2))
    assert record is not None and record.state is S.COMPLETED


async def test_settle_batch_reports_each(engine: Engine) -> None:
    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    a, b = (await engine.claim("w", 2, at(0), at(30))).claims
    await engine.settle([done(a, at(1))], at(1))
    assert await engine.settle([done(a, at(2)), done(b, at(2))], at(2)) == [False, True]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"state": S.RUNNING}, "must end in a terminal state"),
        ({"reschedule": message("other")}, "may only reschedule its own key 'b', got 'other'"),
        ({"wait_for": SlotWait("g", 1)}, "can only wait for a slot when it reschedules"),
    ],
    ids=["not-terminal", "other-key", "waits-without-rescheduling"],
)
async def test_a_malformed_settlement_refuses_the_whole_batch(
    engine: Engine, change: dict[str, object], problem: str
) -> None:
    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    a, b = (await engine.claim("w", 2, at(0), at(30))).claims
    malformed = dataclasses.replace(done(b, at(1)), **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=problem):
        await engine.settle([done(a, at(1)), malformed], at(1))
    record = await engine.get_record("a", at(1))
    assert record is not None and record.state is S.RUNNING


@pytest.mark.parametrize(
    ("when", "state"), [(at(1), S.QUEUED), (at(60), S.SCHEDULED)], ids=["due", "future"]
)
async def test_settle_with_reschedule(
    engine: Engine, when: datetime, state: ExecutionState
) -> None:
    await engine.schedule(message("k", payload=b"one"), at(0), replace=False)
    claim = await claim_one(engine, at(0))
    assert claim.record is not None
    retry = message("k", when, payload=b"two", attempt=2)

    assert await engine.settle([done(claim, at(1), reschedule=retry)], at(1)) == [True]

    record = await engine.get_record("k", at(1))
    assert record is not None
    assert record.state is state
    assert record.generation > claim.record.generation
    assert (record.when, record.attempt, record.payload) == (when, 2, b"two")
    assert (record.worker, record.started_at, record.completed_at) == (None, None, None)
    assert (record.error, record.result, record.expires_at) == (None, None, None)
    if state is S.SCHEDULED:
        assert await claim_keys(engine, at(59)) == []
    again = await claim_one(engine, when)
    assert again.record is not None and again.record.generation == record.generation
    assert again.redelivered is False


# --- set_aside and dead letters --------------------------------------------------------


async def test_set_aside_fails_the_record_and_keeps_a_dead_letter(engine: Engine) -> None:
    await engine.schedule(message("k", function="broken"), at(0), replace=False)
    claim = await claim_one(engine, at(0))
    assert claim.record is not None

    await engine.set_aside(
        claim.delivery, "cannot decode", at(1), TTL, key="k", generation=claim.record.generation
    )

    record = await engine.get_record("k", at(1))
    assert record is not None and record.state is S.FAILED
    assert (record.error, record.completed_at, record.expires_at) == (
        "cannot decode",
        at(1),
        at(1) + TTL,
    )
    [letter] = await engine.dead_letters()
    assert (letter.key, letter.reason, letter.set_aside_at) == ("k", "cannot decode", at(1))
    assert letter.function_name in (None, "broken")
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in letter.fields.items())
    assert (await engine.claim("x", 10, at(100), at(130))).claims == []
    assert await engine.renew("w", [claim.delivery], at(200)) == {claim.delivery}


async def test_set_aside_without_a_key_fails_the_record_its_delivery_names(
    engine: Engine,
) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    claim = await claim_one(engine, at(0))

    await engine.set_aside(claim.delivery, "unreadable", at(1), TTL)

    record = await engine.get_record("k", at(1))
    assert record is not None and record.state is S.FAILED and record.error == "unreadable"
    # The key is free again once its record ends.
    again = await engine.schedule(message("k"), at(2), replace=False)
    assert again.disposition is Disposition.SCHEDULED
    assert (await engine.counts(at(2))).running == 0


async def test_set_aside_of_a_stale_generation_leaves_the_record(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    claim = await claim_one(engine, at(0))
    new = await engine.schedule(message("k", at(50)), at(1), replace=True)
    assert claim.record is not None

    await engine.set_aside(
        claim.delivery, "bad", at(2), TTL, key="k", generation=claim.record.generation
    )

    assert await engine.get_record("k", at(2)) == new.record
    assert len(await engine.dead_letters()) == 1


async def test_dead_letters_are_the_most_recent_oldest_first(engine: Engine) -> None:
    for i in range(3):
        await engine.schedule(message(f"k{i}"), at(0), replace=False)
    claims = (await engine.claim("w", 3, at(0), at(30))).claims
    for i, claim in enumerate(claims):
        await engine.set_aside(claim.delivery, f"reason {i}", at(i), TTL)

    assert [d.reason for d in await engine.dead_letters()] == ["reason 0", "reason 1", "reason 2"]
    assert [d.reason for d in await engine.dead_letters(limit=2)] == ["reason 1", "reason 2"]


# --- counts, snapshot, clear -----------------------------------------------------------


async def test_counts(engine: Engine) -> None:
    assert (await engine.counts(at(0))).total == 0
    await engine.schedule(message("f1", at(10)), at(0), replace=False)
    await engine.schedule(message("f2", at(20)), at(0), replace=False)
    await engine.schedule(message("q1"), at(0), replace=False)
    await engine.schedule(message("q2"), at(0), replace=False)
    await engine.schedule(message("q3"), at(0), replace=False)
    await claim_one(engine, at(0))

    counts = await engine.counts(at(0))
    assert (counts.future, counts.queued, counts.running, counts.total) == (2, 2, 1, 5)


async def test_snapshot(engine: Engine) -> None:
    await engine.schedule(message("f-late", at(20)), at(0), replace=False)
    await engine.schedule(message("f-early", at(10)), at(0), replace=False)
    await engine.schedule(message("r1"), at(0), replace=False)
    await engine.schedule(message("r2"), at(0), replace=False)
    await engine.schedule(message("q-late", at(2)), at(3), replace=False)
    await engine.schedule(message("q-early", at(1)), at(3), replace=False)
    await engine.claim("w1", 1, at(0), at(30))
    await engine.claim("w2", 1, at(0.5), at(30))
    await engine.heartbeat("w2", frozenset({"task"}), at(3), timedelta(seconds=10))
    await engine.heartbeat("w1", frozenset(), at(3), timedelta(seconds=10))

    snap = await engine.snapshot(at(3))

    assert [r.key for r in snap.future] == ["f-early", "f-late"]
    assert all(r.state is S.SCHEDULED for r in snap.future)
    assert [r.key for r in snap.queued] == ["q-early", "q-late"]
    assert [(r.key, r.worker, r.started_at) for r in snap.running] == [
        ("r1", "w1", at(0)),
        ("r2", "w2", at(0.5)),
    ]
    assert [(w.name, w.tasks) for w in snap.workers] == [
        ("w1", frozenset()),
        ("w2", frozenset({"task"})),
    ]
    assert [r.key for r in (await engine.snapshot(at(3), limit=1)).future] == ["f-early"]


async def test_clear_cancels_pending_work_only(engine: Engine) -> None:
    await engine.schedule(message("future", at(10)), at(0), replace=False)
    await engine.schedule(message("running"), at(0), replace=False)
    await engine.schedule(message("queued"), at(0), replace=False)
    running = await claim_one(engine, at(0))

    assert await engine.clear(at(1), TTL) == 2

    for key in ("future", "queued"):
        record = await engine.get_record(key, at(1))
        assert record is not None and record.state is S.CANCELLED
    counts = await engine.counts(at(1))
    assert (counts.future, counts.queued, counts.running) == (0, 0, 1)
    assert await claim_keys(engine, at(20)) == []
    assert await engine.settle([done(running, at(2))], at(2)) == [True]
    assert await engine.clear(at(3), TTL) == 0


# --- workers ---------------------------------------------------------------------------


async def test_heartbeat_workers_and_retire(engine: Engine) -> None:
    await engine.heartbeat("b", frozenset({"x", "y"}), at(5), timedelta(seconds=60))
    await engine.heartbeat("a", frozenset({"x"}), at(0), timedelta(seconds=60))

    listed = await engine.workers(at(6), timedelta(seconds=60))
    assert [(w.name, w.last_seen, w.tasks) for w in listed] == [
        ("a", at(0), frozenset({"x"})),
        ("b", at(5), frozenset({"x", "y"})),
    ]
    assert [w.name for w in await engine.workers(at(8), timedelta(seconds=3))] == ["b"]

    await engine.retire("b")
    assert [w.name for w in await engine.workers(at(6), timedelta(seconds=60))] == ["a"]


async def test_heartbeat_forgets_silent_workers(engine: Engine) -> None:
    await engine.heartbeat("old", frozenset(), at(0), timedelta(seconds=10))
    await engine.heartbeat("new", frozenset(), at(100), timedelta(seconds=10))
    assert [w.name for w in await engine.workers(at(100), timedelta(days=1))] == ["new"]


# --- subscribe -------------------------------------------------------------------------


async def test_subscribe_sees_a_lifecycle_in_order(engine: Engine) -> None:
    async with engine.subscribe("k") as events:
        first = await engine.schedule(message("k", at(10)), at(0), replace=False)
        claim = await claim_one(engine, at(10), "w")
        retry = message("k", at(20), attempt=2)
        await engine.settle([done(claim, at(11), reschedule=retry)], at(11))
        second = await claim_one(engine, at(20), "w")
        await engine.settle([done(second, at(21), state=S.FAILED, error="boom")], at(21))

        seen = [await next_event(events) for _ in range(7)]

    g1 = first.record.generation
    assert second.record is not None
    g2 = second.record.generation
    assert [(e.key, e.state, e.generation) for e in seen] == [
        ("k", S.SCHEDULED, g1),
        ("k", S.QUEUED, g1),
        ("k", S.RUNNING, g1),
        ("k", S.SCHEDULED, g2),
        ("k", S.QUEUED, g2),
        ("k", S.RUNNING, g2),
        ("k", S.FAILED, g2),
    ]
    assert seen[2].worker == "w"
    assert seen[6].error == "boom"


async def test_subscribe_sees_cancel_and_set_aside(engine: Engine) -> None:
    async with engine.subscribe("k") as events:
        await engine.schedule(message("k"), at(0), replace=False)
        await engine.cancel("k", at(1), TTL)
        await engine.schedule(message("k"), at(2), replace=False)
        claim = await claim_one(engine, at(2))
        assert claim.record is not None
        await engine.set_aside(
            claim.delivery, "bad", at(3), TTL, key="k", generation=claim.record.generation
        )

        seen = [await next_event(events) for _ in range(5)]

    assert [e.state for e in seen] == [S.QUEUED, S.CANCELLED, S.QUEUED, S.RUNNING, S.FAILED]
    assert seen[4].error == "bad"


async def test_subscribe_only_sees_its_key(engine: Engine) -> None:
    async with engine.subscribe("mine") as events:
        await engine.schedule(message("other"), at(0), replace=False)
        await engine.schedule(message("mine"), at(0), replace=False)
        event = await next_event(events)
    assert event.key == "mine"


# --- wait_for_work ---------------------------------------------------------------------


async def test_wait_for_work_returns_when_due_work_is_scheduled(
    engine_factory: EngineFactory,
) -> None:
    consumer = await engine_factory()
    producer = await engine_factory()
    waiter = asyncio.ensure_future(consumer.wait_for_work(None))
    for _ in range(5):
        await asyncio.sleep(0)

    await producer.schedule(message("k"), at(0), replace=False)

    await asyncio.wait_for(waiter, HANG_GUARD)
    assert await claim_keys(consumer, at(0)) == ["k"]


async def test_wait_for_work_returns_when_future_work_is_scheduled(
    engine_factory: EngineFactory,
) -> None:
    consumer = await engine_factory()
    producer = await engine_factory()
    waiter = asyncio.ensure_future(consumer.wait_for_work(None))
    for _ in range(5):
        await asyncio.sleep(0)

    await producer.schedule(message("k", at(60)), at(0), replace=False)

    await asyncio.wait_for(waiter, HANG_GUARD)
    assert (await consumer.claim("w", 10, at(0), at(30))).next_wake == at(60)


async def test_wait_for_work_returns_when_queued_work_exists(engine: Engine) -> None:
    await engine.schedule(message("k"), at(0), replace=False)
    await asyncio.wait_for(engine.wait_for_work(None), HANG_GUARD)


async def test_wait_for_work_returns_when_work_is_promoted(engine_factory: EngineFactory) -> None:
    consumer = await engine_factory()
    promoter = await engine_factory()
    for key in ("a", "b"):
        await promoter.schedule(message(key, at(10)), at(0), replace=False)
    waiter = asyncio.ensure_future(consumer.wait_for_work(None))
    for _ in range(5):
        await asyncio.sleep(0)

    assert await claim_keys(promoter, at(10), count=1) == ["a"]

    await asyncio.wait_for(waiter, HANG_GUARD)
    assert await claim_keys(consumer, at(10)) == ["b"]


async def test_wait_for_work_is_cancel_safe(engine: Engine) -> None:
    waiter = asyncio.ensure_future(engine.wait_for_work(None))
    for _ in range(5):
        await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    again = asyncio.ensure_future(engine.wait_for_work(None))
    await engine.schedule(message("k"), at(0), replace=False)
    await asyncio.wait_for(again, HANG_GUARD)
    assert await claim_keys(engine, at(0)) == ["k"]


# --- sharing ---------------------------------------------------------------------------


async def test_same_name_shares_data_and_other_names_do_not(engine_factory: EngineFactory) -> None:
    producer = await engine_factory("orders")
    consumer = await engine_factory("orders")
    stranger = await engine_factory("billing")

    await producer.schedule(message("k"), at(0), replace=False)

    assert await stranger.get_record("k", at(0)) is None
    assert await claim_keys(stranger, at(0)) == []
    record = await consumer.get_record("k", at(0))
    assert record is not None and record.state is S.QUEUED
    assert await claim_keys(consumer, at(0)) == ["k"]


def test_memory_for_url_shares_a_store_per_url_and_name() -> None:
    a = MemoryEngine.for_url("memory://share-test", "one")
    b = MemoryEngine.for_url("memory://share-test", "one")
    c = MemoryEngine.for_url("memory://share-test", "two")

    async def scenario() -> tuple[ExecutionRecord | None, ExecutionRecord | None]:
        await a.schedule(message("k"), at(0), replace=False)
        return await b.get_record("k", at(0)), await c.get_record("k", at(0))

    seen_by_b, seen_by_c = asyncio.run(scenario())
    assert seen_by_b is not None and seen_by_c is None
    assert (a.url, a.name, c.name) == ("memory://share-test", "one", "two")


def test_memory_engine_is_deterministic() -> None:
    async def scenario() -> list[tuple[str, int, str]]:
        engine = MemoryEngine()
        for i in range(20):
            await engine.schedule(message(f"k{i}", at(i % 4)), at(i % 3), replace=i % 5 == 0)
        out = []
        for step in range(6):
            batch = await engine.claim("w", 3, at(step), at(step + 1))
            out += [
                (c.record.key, c.record.generation, c.delivery) for c in batch.claims if c.record
            ]
        return out

    assert asyncio.run(scenario()) == asyncio.run(scenario())


# --- flow-control gates ----------------------------------------------------------


async def test_admit_counts_holders_in_a_sliding_window(engine: Engine) -> None:
    window = timedelta(seconds=10)
    assert await engine.admit("g", "a", at(0), window, 2) is None
    assert await engine.admit("g", "b", at(4), window, 2) is None
    # Full: told when the earliest (a, at 0) leaves the window.
    assert await engine.admit("g", "c", at(5), window, 2) == at(10)
    # A holder still counted is let through again, not counted twice.
    assert await engine.admit("g", "a", at(9), window, 2) is None
    assert await engine.admit("g", "c", at(9.999), window, 2) == at(10)
    # At 10 s, a (let through at 0) no longer counts.
    assert await engine.admit("g", "c", at(10), window, 2) is None
    assert await engine.admit("g", "d", at(13), window, 2) == at(14)


async def test_admit_keeps_gates_apart(engine: Engine) -> None:
    window = timedelta(minutes=1)
    assert await engine.admit("one", "a", at(0), window, 1) is None
    assert await engine.admit("two", "a", at(0), window, 1) is None
    assert await engine.admit("one", "b", at(1), window, 1) == at(60)


async def test_withdraw_gives_a_holders_place_back(engine: Engine) -> None:
    window = timedelta(minutes=1)
    assert await engine.admit("g", "a", at(0), window, 1) is None
    assert await engine.admit("g", "b", at(1), window, 1) == at(60)
    await engine.withdraw("g", "a")
    await engine.withdraw("g", "never-admitted")
    await engine.withdraw("no-such-gate", "a")
    assert await engine.admit("g", "b", at(2), window, 1) is None


async def test_debounce_runs_the_first_holder_once_calls_settle(engine: Engine) -> None:
    settle = timedelta(seconds=5)
    first = await engine.debounce("g", "first", at(0), settle)
    assert (first.verdict, first.until) == ("wait", at(5))
    assert (await engine.debounce("g", "second", at(3), settle)).verdict == "drop"
    # The winner came back too soon: it waits for 5 s after the last call (at 3).
    early = await engine.debounce("g", "first", at(5), settle)
    assert (early.verdict, early.until) == ("wait", at(8))
    assert (await engine.debounce("g", "first", at(8), settle)).verdict == "run"
    # The gate is open again: the next call starts a new burst.
    again = await engine.debounce("g", "third", at(9), settle)
    assert (again.verdict, again.until) == ("wait", at(14))


async def test_debounce_forgets_a_gate_left_quiet_for_ten_settle_periods(engine: Engine) -> None:
    settle = timedelta(seconds=1)
    assert (await engine.debounce("g", "gone", at(0), settle)).verdict == "wait"
    assert (await engine.debounce("g", "other", at(9.999), settle)).verdict == "drop"
    # Quiet since 9.999: forgotten at 19.999, and the next caller holds the gate.
    taken = await engine.debounce("g", "newcomer", at(19.999), settle)
    assert (taken.verdict, taken.until) == ("wait", at(20.999))


async def test_debounce_keeps_gates_apart(engine: Engine) -> None:
    settle = timedelta(seconds=1)
    assert (await engine.debounce("one", "a", at(0), settle)).verdict == "wait"
    assert (await engine.debounce("two", "b", at(0), settle)).verdict == "wait"
    assert (await engine.debounce("one", "a", at(1), settle)).verdict == "run"
    assert (await engine.debounce("two", "b", at(1), settle)).verdict == "run"


# --- concurrency slots -------------------------------------------------------------


async def test_slots_are_taken_up_to_the_limit_and_free_when_their_lease_expires(
    engine: Engine,
) -> None:
    assert await engine.acquire_slot("g", "a", at(0), 2, at(30))
    assert await engine.acquire_slot("g", "b", at(1), 2, at(30))
    assert not await engine.acquire_slot("g", "c", at(2), 2, at(30))
    # A holder keeps its own slot (a renewal), with the later lease.
    assert await engine.acquire_slot("g", "a", at(20), 2, at(50))
    # b's lease ran out at 30: its run died, and its slot is free again.
    assert await engine.acquire_slot("g", "c", at(30), 2, at(60))
    assert not await engine.acquire_slot("g", "b", at(31), 2, at(61))
    assert await engine.acquire_slot("other", "b", at(31), 2, at(61))


async def test_releasing_a_slot_frees_it(engine: Engine) -> None:
    assert await engine.acquire_slot("g", "a", at(0), 1, at(30))
    assert not await engine.acquire_slot("g", "b", at(1), 1, at(30))
    await engine.release_slot("g", "a", at(2), 1)
    await engine.release_slot("g", "never-held", at(2), 1)
    assert await engine.acquire_slot("g", "b", at(3), 1, at(30))


async def park(engine: Engine, key: str, now: datetime, fallback: datetime) -> bool:
    """Claim ``key``'s queued run and settle it as waiting for a slot at gate g (limit 1)."""
    batch = await engine.claim("w", 1, now, now + LEASE)
    [claim] = [c for c in batch.claims if c.record is not None and c.record.key == key]
    assert claim.record is not None
    settlement = Settlement(
        delivery=claim.delivery,
        key=key,
        generation=claim.record.generation,
        state=S.QUEUED,
        completed_at=now,
        ttl=TTL,
        reschedule=message(key, fallback),
        wait_for=SlotWait("g", 1),
    )
    [applied] = await engine.settle([settlement], now)
    return applied


async def test_parked_runs_wait_and_are_woken_first_parked_first(engine: Engine) -> None:
    assert await engine.acquire_slot("g", "holder", at(0), 1, at(600))
    for key in ("first", "cancelled", "second"):
        await engine.schedule(message(key, at(0)), at(0), replace=False)
        assert await park(engine, key, at(1), fallback=at(300))
    for key in ("first", "cancelled", "second"):
        record = await engine.get_record(key, at(1))
        assert record is not None and record.state is S.SCHEDULED and record.when == at(300)
    assert await engine.cancel("cancelled", at(2), TTL)

    await engine.release_slot("g", "holder", at(5), 1)
    woken = await engine.get_record("first", at(5))
    assert woken is not None and woken.state is S.QUEUED and woken.when == at(5)
    assert await claim_keys(engine, at(5)) == ["first"]
    # The second stays parked while first holds the slot ...
    assert await engine.acquire_slot("g", "first-run", at(6), 1, at(600))
    second = await engine.get_record("second", at(6))
    assert second is not None and second.state is S.SCHEDULED
    # ... and, the cancelled one skipped, is woken when first gives it back.
    await engine.release_slot("g", "first-run", at(7), 1)
    assert await claim_keys(engine, at(7)) == ["second"]


async def test_a_run_parked_while_a_slot_is_free_is_due_at_once(engine: Engine) -> None:
    # The slot was given back between the run being refused and its settlement.
    await engine.schedule(message("late", at(0)), at(0), replace=False)
    assert await park(engine, "late", at(1), fallback=at(300))
    record = await engine.get_record("late", at(1))
    assert record is not None and record.state is S.QUEUED and record.when == at(1)


async def test_a_parked_run_falls_back_to_its_own_time(engine: Engine) -> None:
    assert await engine.acquire_slot("g", "holder", at(0), 1, at(30))
    await engine.schedule(message("patient", at(0)), at(0), replace=False)
    assert await park(engine, "patient", at(1), fallback=at(30))
    assert await claim_keys(engine, at(29)) == []
    assert await claim_keys(engine, at(30)) == ["patient"]
