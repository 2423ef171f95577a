"""Cancelling running work, on every engine: the record ends CANCELLED at once,
its delivery stays with its worker, and nothing that worker does later undoes it.

Covers ``Engine.cancel`` of RUNNING records, the late settlements, reclaims,
releases and set-asides of their deliveries, ``renew`` reporting them lost,
and ``watch_cancellations``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from docket.engines.base import Cancellation, Claim, Engine, Settlement, SlotWait
from docket.states import Disposition, ExecutionState
from tests.conftest import EngineFactory
from tests.test_engine_contract import (
    HANG_GUARD,
    TTL,
    at,
    claim_keys,
    claim_one,
    done,
    message,
    next_event,
)

S = ExecutionState


async def next_notice(notices: AsyncIterator[Cancellation]) -> Cancellation:
    return await asyncio.wait_for(notices.__anext__(), HANG_GUARD)


async def running(engine: Engine, key: str = "k", worker: str = "w") -> Claim:
    await engine.schedule(message(key), at(0), replace=False)
    claim = await claim_one(engine, at(0), worker)
    assert claim.record is not None and claim.record.key == key
    return claim


async def test_cancel_ends_running_work_and_tells_its_worker(engine: Engine) -> None:
    claim = await running(engine)
    assert claim.record is not None
    generation = claim.record.generation
    async with engine.subscribe("k") as events, engine.watch_cancellations() as notices:
        assert await engine.cancel("k", at(2), TTL) is True

        event = await next_event(events)  # type: ignore[arg-type]
        notice = await next_notice(notices)

    assert (event.key, event.state, event.generation) == ("k", S.CANCELLED, generation)
    assert notice == Cancellation("k", generation, claim.delivery, "w")
    record = await engine.get_record("k", at(2))
    assert record is not None
    assert (record.state, record.generation, record.worker) == (S.CANCELLED, generation, "w")
    assert (record.started_at, record.completed_at, record.expires_at) == (
        at(0),
        at(2),
        at(2) + TTL,
    )
    assert (record.result, record.error) == (None, None)
    # A second cancel changes nothing: the first completed_at stands.
    assert await engine.cancel("k", at(3), TTL) is False
    assert await engine.get_record("k", at(3)) == record
    assert await engine.get_record("k", at(2) + TTL) is None
    # The key is free again.
    again = await engine.schedule(message("k"), at(4), replace=False)
    assert again.disposition is Disposition.SCHEDULED and again.record.generation > generation


def _late(claim: Claim, how: str) -> Settlement:
    later = message("k", at(60), attempt=2)
    if how == "completed":
        return done(claim, at(5), result=b"late")
    if how == "failed":
        return done(claim, at(5), state=S.FAILED, error="late")
    if how == "retry due":
        return done(claim, at(5), reschedule=message("k", at(5), attempt=2))
    if how == "perpetual next run":
        return done(claim, at(5), reschedule=later)
    assert how == "parked at a gate"
    return Settlement(
        **{**vars(done(claim, at(5), reschedule=later)), "wait_for": SlotWait("g", 1)}
    )


LATE = ["completed", "failed", "retry due", "perpetual next run", "parked at a gate"]


@pytest.mark.parametrize("how", LATE)
async def test_a_late_settlement_only_acknowledges(engine: Engine, how: str) -> None:
    claim = await running(engine)
    assert await engine.cancel("k", at(2), TTL) is True
    cancelled = await engine.get_record("k", at(2))

    assert await engine.settle([_late(claim, how)], at(5)) == [False]

    assert await engine.get_record("k", at(5)) == cancelled
    counts = await engine.counts(at(5))
    assert (counts.future, counts.queued, counts.running) == (0, 0, 0)
    assert await claim_keys(engine, at(3600)) == []
    # Acknowledged: the worker holds the delivery no more.
    assert await engine.renew("w", [claim.delivery], at(100)) == {claim.delivery}


@pytest.mark.parametrize("how", LATE)
async def test_a_late_settle_and_claim_only_acknowledges_then_claims(
    engine: Engine, how: str
) -> None:
    claim = await running(engine)
    await engine.schedule(message("next"), at(1), replace=False)
    assert await engine.cancel("k", at(2), TTL) is True

    applied, batch = await engine.settle_and_claim([_late(claim, how)], "w", 10, at(5), at(35))

    assert applied == [False]
    assert [c.record.key for c in batch.claims if c.record] == ["next"]
    record = await engine.get_record("k", at(5))
    assert record is not None and record.state is S.CANCELLED and record.completed_at == at(2)


async def test_a_late_settlement_in_a_batch_leaves_the_others_applied(engine: Engine) -> None:
    for key in ("a", "b"):
        await engine.schedule(message(key), at(0), replace=False)
    a, b = (await engine.claim("w", 2, at(0), at(30))).claims
    assert await engine.cancel("a", at(1), TTL) is True

    assert await engine.settle([done(a, at(2)), done(b, at(2))], at(2)) == [False, True]

    states = [(await engine.get_record(key, at(2))) for key in ("a", "b")]
    assert [r.state for r in states if r is not None] == [S.CANCELLED, S.COMPLETED]


async def test_an_expired_lease_of_cancelled_work_is_not_redelivered(engine: Engine) -> None:
    claim = await running(engine, worker="a")
    assert await engine.cancel("k", at(1), TTL) is True

    assert (await engine.claim("b", 10, at(30), at(60))).claims == []

    record = await engine.get_record("k", at(30))
    assert record is not None and record.state is S.CANCELLED
    assert await engine.settle([done(claim, at(31))], at(31)) == [False]
    assert (await engine.claim("c", 10, at(3600), at(3630))).claims == []


async def test_renew_reports_cancelled_work_lost_and_keeps_the_others(engine: Engine) -> None:
    for key in ("kept", "cancelled"):
        await engine.schedule(message(key), at(0), replace=False)
    kept, cancelled = (await engine.claim("w", 2, at(0), at(30))).claims
    assert await engine.cancel("cancelled", at(1), TTL) is True

    assert await engine.renew("w", [kept.delivery, cancelled.delivery], at(100)) == {
        cancelled.delivery
    }

    # kept's lease was extended, and the cancelled one is not handed out again.
    assert (await engine.claim("x", 10, at(50), at(80))).claims == []
    assert await engine.settle([done(kept, at(51)), done(cancelled, at(51))], at(51)) == [
        True,
        False,
    ]


async def test_renew_keeps_a_run_whose_key_was_replaced(engine: Engine) -> None:
    claim = await running(engine)
    await engine.schedule(message("k", at(60)), at(1), replace=True)
    # Replacing is not cancelling: the old run goes on, its lease with it.
    assert await engine.renew("w", [claim.delivery], at(100)) == set()
    # Cancelling the replacement leaves the old run alone too.
    assert await engine.cancel("k", at(2), TTL) is True
    assert await engine.renew("w", [claim.delivery], at(100)) == set()
    assert await engine.settle([done(claim, at(3))], at(3)) == [False]


async def test_cancel_with_zero_ttl_forgets_running_work(engine: Engine) -> None:
    claim = await running(engine)
    assert claim.record is not None
    async with engine.watch_cancellations() as notices:
        assert await engine.cancel("k", at(1), timedelta(0)) is True
        notice = await next_notice(notices)

    assert notice == Cancellation("k", claim.record.generation, claim.delivery, "w")
    assert await engine.get_record("k", at(1)) is None
    assert await engine.renew("w", [claim.delivery], at(100)) == {claim.delivery}
    assert await engine.settle([done(claim, at(2))], at(2)) == [False]
    assert await engine.get_record("k", at(2)) is None
    assert (await engine.schedule(message("k"), at(3), replace=False)).disposition is (
        Disposition.SCHEDULED
    )


async def test_releasing_cancelled_work_forgets_it(engine: Engine) -> None:
    claim = await running(engine)
    assert await engine.cancel("k", at(1), TTL) is True

    assert await engine.release("w", [claim.delivery], at(2)) == 0

    record = await engine.get_record("k", at(2))
    assert record is not None and record.state is S.CANCELLED
    assert await engine.renew("w", [claim.delivery], at(100)) == {claim.delivery}
    assert (await engine.claim("x", 10, at(3600), at(3630))).claims == []


async def test_setting_cancelled_work_aside_keeps_it_cancelled(engine: Engine) -> None:
    claim = await running(engine)
    assert claim.record is not None
    assert await engine.cancel("k", at(1), TTL) is True

    await engine.set_aside(
        claim.delivery, "unreadable", at(2), TTL, key="k", generation=claim.record.generation
    )

    record = await engine.get_record("k", at(2))
    assert record is not None and (record.state, record.error) == (S.CANCELLED, None)
    [letter] = await engine.dead_letters()
    assert (letter.key, letter.reason) == ("k", "unreadable")
    assert (await engine.claim("x", 10, at(3600), at(3630))).claims == []


async def test_notices_name_the_worker_holding_the_lease(engine: Engine) -> None:
    await running(engine, worker="a")
    [reclaimed] = (await engine.claim("b", 1, at(30), at(60))).claims
    assert reclaimed.redelivered and reclaimed.record is not None
    async with engine.watch_cancellations() as notices:
        assert await engine.cancel("k", at(31), TTL) is True
        notice = await next_notice(notices)
    assert notice == Cancellation("k", reclaimed.record.generation, reclaimed.delivery, "b")


async def test_only_running_work_is_announced_and_only_while_watching(engine: Engine) -> None:
    for key in ("before", "during", "after"):
        await engine.schedule(message(key), at(0), replace=False)
    assert await claim_keys(engine, at(0)) == ["before", "during", "after"]
    await engine.schedule(message("queued"), at(0), replace=False)
    await engine.schedule(message("future", at(60)), at(0), replace=False)
    assert await engine.cancel("before", at(1), TTL) is True

    async with engine.watch_cancellations() as notices:
        assert await engine.cancel("queued", at(2), TTL) is True
        assert await engine.cancel("future", at(2), TTL) is True
        assert await engine.cancel("during", at(2), TTL) is True
        # Neither the cancel before this watch nor the pending work was announced.
        assert (await next_notice(notices)).key == "during"
    assert await engine.cancel("after", at(3), TTL) is True

    async with engine.watch_cancellations() as notices:
        await running(engine, "last")
        assert await engine.cancel("last", at(4), TTL) is True
        assert (await next_notice(notices)).key == "last"


async def test_every_watcher_of_the_docket_hears_and_no_other(
    engine_factory: EngineFactory,
) -> None:
    producer = await engine_factory("orders")
    worker_side = await engine_factory("orders")
    stranger = await engine_factory("billing")
    claim = await running(worker_side, "k", "w1")
    await running(stranger, "theirs", "w2")
    async with (
        worker_side.watch_cancellations() as first,
        worker_side.watch_cancellations() as second,
        stranger.watch_cancellations() as elsewhere,
    ):
        assert await producer.cancel("k", at(1), TTL) is True
        assert await stranger.cancel("theirs", at(1), TTL) is True

        heard = [await next_notice(first), await next_notice(second)]
        other = await next_notice(elsewhere)

    assert claim.record is not None
    expected = Cancellation("k", claim.record.generation, claim.delivery, "w1")
    assert heard == [expected, expected]
    assert other.key == "theirs" and other.worker == "w2"
