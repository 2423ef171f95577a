"""How many storage calls a worker spends on its work, on every engine target.

The budget is two round trips per executed task, amortised; the worker does
better by writing each batch of outcomes in the round trip of its next claim.
These tests count the engine calls the claim loop makes (each is one round trip
on Redis: a pipelined ``settle_and_claim`` is one write, see
``test_redis_engine.py``), so a change that brings back a separate write per
outcome, or an extra claim per run, fails here rather than only in a benchmark.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

import pytest

from docket import Docket, Worker
from tests.conftest import target_url


@pytest.fixture(params=["memory", "redis", "fakeredis"])
async def docket(request: pytest.FixtureRequest) -> AsyncIterator[Docket]:
    unique = uuid.uuid4().hex[:10]
    async with Docket(name=f"trips-{unique}", url=target_url(request, unique)) as opened:
        yield opened


_inside: ContextVar[bool] = ContextVar("inside_a_counted_call", default=False)


def count_calls(docket: Docket) -> Counter[str]:
    """Count the engine's claim and settle calls from here on."""
    calls: Counter[str] = Counter()
    engine: Any = docket.engine

    for name in ("claim", "settle", "settle_and_claim"):
        original = getattr(engine, name)

        async def counted(
            *args: Any, _name: str = name, _original: Any = original, **kwargs: Any
        ) -> Any:
            if _inside.get():
                # The memory twin's settle_and_claim calls its own settle and claim.
                return await _original(*args, **kwargs)
            calls[_name] += 1
            token = _inside.set(True)
            try:
                return await _original(*args, **kwargs)
            finally:
                _inside.reset(token)

        setattr(engine, name, counted)
    return calls


async def noop() -> None:
    return None


async def test_a_lone_task_costs_one_claim_and_one_settle_with_the_next_claim(
    docket: Docket,
) -> None:
    execution = await docket.add(noop)()
    calls = count_calls(docket)
    async with Worker(docket) as worker:
        await worker.run_until_finished()
    await execution.sync()
    assert execution.state.name == "COMPLETED"
    # The claim that found the task found the queue empty behind it, so no
    # second claim; the outcome went with the next claim, not on its own.
    assert calls == Counter({"claim": 1, "settle_and_claim": 1})


async def test_outcomes_of_a_busy_worker_go_with_its_claims(docket: Docket) -> None:
    tasks = 200
    for _ in range(tasks):
        await docket.add(noop)()
    calls = count_calls(docket)
    async with Worker(docket, concurrency=10) as worker:
        await worker.run_until_finished()
    snapshot = await docket.snapshot()
    assert snapshot.total_tasks == 0
    # While the claim loop runs it is the only writer of outcomes.
    assert calls["settle"] == 0
    # A claim takes up to a full set of slots (and, once runs are short, as
    # many again to hold); each carries the outcomes that ended before it.
    assert calls["claim"] + calls["settle_and_claim"] <= tasks / 10 + 2
