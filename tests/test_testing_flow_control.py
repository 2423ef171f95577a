"""The docket_testing helpers drive flow control in virtual time, as they do retries.

``run_due`` and ``advance`` run work through a real Worker, so a Debounce's
wait, a RateLimit's deferral and a ConcurrencyLimit's parking all happen in
the test's virtual time, in no real time.
"""

from __future__ import annotations

from datetime import timedelta

from docket import ConcurrencyLimit, Debounce, Docket, ExecutionState, RateLimit
from docket_testing import advance, assert_scheduled, run_due

ran: list[object] = []


async def reindex(reason: str, debounce: Debounce = Debounce(timedelta(minutes=5))) -> None:
    ran.append(reason)


async def call_partner(n: int, limit: RateLimit = RateLimit(1, per=timedelta(hours=1))) -> None:
    ran.append(n)


async def export(n: int, limit: ConcurrencyLimit = ConcurrencyLimit()) -> None:
    ran.append(n)


async def test_a_debounced_burst_runs_once_when_time_is_advanced(docket: Docket) -> None:
    ran.clear()
    burst = [await docket.add(reindex)(reason) for reason in ("a", "b", "c")]
    await advance(docket, timedelta(minutes=10))
    assert ran == ["a"]
    for execution in burst:
        await execution.sync()
    assert [e.state for e in burst] == [
        ExecutionState.COMPLETED,
        ExecutionState.CANCELLED,
        ExecutionState.CANCELLED,
    ]


async def test_a_rate_limited_task_is_deferred_to_the_next_window(docket: Docket) -> None:
    ran.clear()
    start = docket.clock.now()
    for n in (1, 2, 3):
        await docket.add(call_partner)(n)
    await run_due(docket)
    assert ran == [1]
    await assert_scheduled(docket, call_partner, args=(2,), when=start + timedelta(hours=1))
    await advance(docket, timedelta(hours=2))
    assert ran == [1, 2, 3]


async def test_runs_over_a_concurrency_limit_all_run_in_run_due(docket: Docket) -> None:
    ran.clear()
    for n in (1, 2, 3):
        await docket.add(export)(n)
    await run_due(docket)
    assert sorted(ran) == [1, 2, 3]  # type: ignore[type-var]
