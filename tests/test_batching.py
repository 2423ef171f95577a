"""SettlementBatcher: who writes outcomes, when, and what each settlement is told.

Run on the memory twin: the batcher's rules do not depend on the engine, and
the worker-level round-trip counts on every target are in
``test_worker_round_trips.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from docket.clock import VirtualClock
from docket.engines import open_engine
from docket.engines.base import Claim, Engine, Settlement, TaskMessage
from docket.states import ExecutionState
from docket.worker.batching import SettlementBatcher

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
TTL = timedelta(minutes=15)


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    opened = open_engine(f"memory://{uuid.uuid4().hex[:10]}", "batching")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def claimed(engine: Engine, count: int) -> list[Claim]:
    for index in range(count):
        message = TaskMessage(key=f"k{index}", function_name="f", payload=b"", when=T0)
        await engine.schedule(message, T0, replace=False)
    return list((await engine.claim("w", count, T0, T0 + timedelta(minutes=5))).claims)


def completed(claim: Claim) -> Settlement:
    assert claim.record is not None
    return Settlement(
        delivery=claim.delivery,
        key=claim.record.key,
        generation=claim.record.generation,
        state=ExecutionState.COMPLETED,
        completed_at=T0,
        ttl=TTL,
    )


class Outcomes:
    """Records what each settlement's callback was told."""

    def __init__(self) -> None:
        self.told: list[tuple[bool | None, BaseException | None]] = []

    def __call__(self, applied: bool | None, error: BaseException | None) -> None:
        self.told.append((applied, error))


async def state_of(engine: Engine, key: str) -> ExecutionState:
    record = await engine.get_record(key, T0)
    assert record is not None
    return record.state


async def test_with_autoflush_on_what_is_submitted_is_written_in_one_batch(
    engine: Engine,
) -> None:
    batcher = SettlementBatcher(engine, VirtualClock(start=T0))
    outcomes = Outcomes()
    for claim in await claimed(engine, 3):
        batcher.submit(completed(claim), outcomes)
    assert len(batcher) == 3
    await batcher.drain()
    assert outcomes.told == [(True, None)] * 3
    assert len(batcher) == 0
    assert {await state_of(engine, f"k{i}") for i in range(3)} == {ExecutionState.COMPLETED}


async def test_with_autoflush_off_nothing_is_written_until_taken_or_flushed(
    engine: Engine,
) -> None:
    batcher = SettlementBatcher(engine, VirtualClock(start=T0))
    batcher.autoflush = False
    outcomes = Outcomes()
    claims = await claimed(engine, 2)
    for claim in claims:
        batcher.submit(completed(claim), outcomes)
    for _ in range(5):
        await asyncio.sleep(0)
    assert outcomes.told == []
    assert await state_of(engine, "k0") is ExecutionState.RUNNING

    await batcher.flush()
    assert outcomes.told == [(True, None), (True, None)]
    assert await state_of(engine, "k1") is ExecutionState.COMPLETED


async def test_turning_autoflush_back_on_writes_what_was_left(engine: Engine) -> None:
    batcher = SettlementBatcher(engine, VirtualClock(start=T0))
    batcher.autoflush = False
    outcomes = Outcomes()
    (claim,) = await claimed(engine, 1)
    batcher.submit(completed(claim), outcomes)
    batcher.autoflush = True
    await batcher.drain()
    assert outcomes.told == [(True, None)]


async def test_drain_writes_what_is_pending_even_with_autoflush_off(engine: Engine) -> None:
    batcher = SettlementBatcher(engine, VirtualClock(start=T0))
    batcher.autoflush = False
    outcomes = Outcomes()
    (claim,) = await claimed(engine, 1)
    batcher.submit(completed(claim), outcomes)
    await batcher.drain()
    assert outcomes.told == [(True, None)]


async def test_a_failed_write_tells_every_settlement_in_it(engine: Engine) -> None:
    batcher = SettlementBatcher(engine, VirtualClock(start=T0))
    batcher.autoflush = False
    outcomes = Outcomes()
    for claim in await claimed(engine, 2):
        batcher.submit(completed(claim), outcomes)

    async def unreachable(*args: Any, **kwargs: Any) -> list[bool]:
        raise ConnectionError("storage is away")

    engine.settle = unreachable  # type: ignore[method-assign]
    await batcher.flush()
    assert [applied for applied, _ in outcomes.told] == [None, None]
    assert all(isinstance(error, ConnectionError) for _, error in outcomes.told)
    assert len(batcher) == 0


async def test_a_flush_cancelled_before_it_lands_gives_its_settlements_back(
    engine: Engine,
) -> None:
    gate = asyncio.Event()
    settle = engine.settle

    async def stalled(*args: Any, **kwargs: Any) -> list[bool]:
        await gate.wait()
        return await settle(*args, **kwargs)

    engine.settle = stalled  # type: ignore[method-assign]
    batcher = SettlementBatcher(engine, VirtualClock(start=T0))
    batcher.autoflush = False
    outcomes = Outcomes()
    (claim,) = await claimed(engine, 1)
    batcher.submit(completed(claim), outcomes)
    flush = asyncio.create_task(batcher.flush())
    await asyncio.sleep(0)
    assert len(batcher) == 0  # taken by the flush in flight
    flush.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flush
    assert len(batcher) == 1 and outcomes.told == []
    engine.settle = settle  # type: ignore[method-assign]
    await batcher.drain()
    assert outcomes.told == [(True, None)]
