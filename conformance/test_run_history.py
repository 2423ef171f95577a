"""docket_testing's run history and ``assert_ran`` behave the same on every engine target.

``run_due`` works on any clock, so the first tests run on all five harness
targets (``target``): what a run records (call, attempt, outcome, start on
the docket's clock), that the history belongs to the ``Docket`` object the
helper was given, and ``assert_ran``/``assert_not_ran`` with their failure
messages.  ``advance`` needs a ``VirtualClock``, so the rest use the plugin's
``docket`` fixture on each virtual-clock engine (as
``conformance/test_testing_helpers.py`` does): runs recorded at the virtual
time they started (retries, perpetual work), and the near-miss warning.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from conformance.conftest import Target, virtual_engine_params, virtual_engine_url
from docket import Docket, ExecutionState, Retry
from docket.dependencies import Perpetual
from docket.timeutil import truncate_to_ms
from docket_testing import (
    NearMissWarning,
    advance,
    assert_not_ran,
    assert_ran,
    clear_run_history,
    run_due,
    run_history,
)

WALL_CLOCK_HINT = "the application may be reading the wall clock"


async def job(*args: object, **kwargs: object) -> None:
    pass


async def boom(label: str) -> None:
    raise ValueError(f"{label} is broken")


async def retried_at_once(label: str, retry: Retry = Retry(attempts=2)) -> None:
    if retry.attempt == 1:
        raise ConnectionError("first attempt fails")


async def billing(retry: Retry = Retry(attempts=3, delay=timedelta(minutes=5))) -> None:
    if retry.attempt < 3:
        raise ConnectionError(f"attempt {retry.attempt} failed")


async def poll(perpetual: Perpetual = Perpetual(every=timedelta(minutes=15))) -> None:
    pass


# -- every target: run_due ----------------------------------------------------------------


async def test_run_due_records_each_run_with_its_outcome_and_start(target: Target) -> None:
    async with target.docket() as docket:
        before = truncate_to_ms(target.now())
        await docket.add(job, key="a")(1, "two", flag=True)
        await docket.add(boom, key="b")("order 7")
        await docket.add(retried_at_once, key="c")("sync")

        await run_due(docket, raise_errors=False)
        after = target.now()

        runs = run_history(docket)
        assert [(r.function_name, r.key, r.attempt, r.state, r.error) for r in runs] == [
            ("job", "a", 1, ExecutionState.COMPLETED, None),
            ("boom", "b", 1, ExecutionState.FAILED, "ValueError: order 7 is broken"),
            (
                "retried_at_once",
                "c",
                1,
                ExecutionState.QUEUED,
                "ConnectionError: first attempt fails",
            ),
            ("retried_at_once", "c", 2, ExecutionState.COMPLETED, None),
        ]
        assert (runs[0].args, dict(runs[0].kwargs)) == ((1, "two"), {"flag": True})
        for run in runs:
            assert before <= run.started_at <= after, (target.id, run)
            assert run.when <= run.started_at
        if target.virtual:
            assert {run.started_at for run in runs} == {before}

        [a] = await assert_ran(
            docket, job, args=(1, "two"), kwargs={"flag": True}, key="a", at=runs[0].started_at
        )
        assert a == runs[0]
        await assert_ran(docket, "boom", args=("order 7",), times=1)
        await assert_ran(docket, retried_at_once, key="c", times=2)
        await assert_not_ran(docket, job, kwargs={})
        await assert_not_ran(docket, job, at=runs[0].started_at + timedelta(seconds=5))


async def test_the_history_belongs_to_the_docket_object_the_helper_drove(target: Target) -> None:
    async with target.docket() as producer, target.docket() as consumer:
        consumer.register(job)
        await producer.add(job, key="shared")("x")
        await run_due(consumer)

        assert run_history(producer) == []
        [run] = run_history(consumer)
        assert (run.key, run.args) == ("shared", ("x",))
        await assert_not_ran(producer, job)
        await assert_ran(consumer, job, key="shared")

        clear_run_history(consumer)
        assert run_history(consumer) == []


async def test_assert_ran_failures_list_what_ran(target: Target) -> None:
    async with target.docket() as docket:
        await docket.add(job, key="a")("ann")
        await docket.add(boom, key="b")("bob")
        await run_due(docket, raise_errors=False)

        with pytest.raises(AssertionError) as failure:
            await assert_ran(docket, job, args=("cy",))
        message = str(failure.value)
        assert "expected job args=('cy',) to have run at least once; it ran 0 times" in message
        assert "job('ann') key='a'  [completed]" in message
        assert "boom('bob') key='b'  [failed: ValueError: bob is broken]" in message

        with pytest.raises(AssertionError, match="to have run 2 times; it ran once"):
            await assert_ran(docket, job, times=2)
        with pytest.raises(AssertionError, match="not to have run; it ran once"):
            await assert_not_ran(docket, boom)


# -- virtual-clock engines: advance ---------------------------------------------------------


@pytest.fixture(params=virtual_engine_params())
def docket_url(request: pytest.FixtureRequest) -> str:
    """The plugin's ``docket`` fixture opens this: each engine in turn."""
    return virtual_engine_url(request, "run-history")


async def test_advance_records_each_retry_at_its_virtual_start(docket: Docket) -> None:
    start = docket.clock.now()
    await docket.add(billing, key="billing")()

    await advance(docket, timedelta(hours=1))

    runs = await assert_ran(docket, billing, key="billing", times=3)
    assert [(r.attempt, r.state, r.started_at - start) for r in runs] == [
        (1, ExecutionState.QUEUED, timedelta(0)),
        (2, ExecutionState.QUEUED, timedelta(minutes=5)),
        (3, ExecutionState.COMPLETED, timedelta(minutes=10)),
    ]
    await assert_ran(docket, billing, at=start + timedelta(minutes=5), times=1)
    await assert_ran(
        docket, billing, at=start + timedelta(minutes=6), within=timedelta(minutes=1), times=1
    )
    await assert_not_ran(docket, billing, at=start + timedelta(minutes=15))


async def test_advance_records_every_run_of_perpetual_work(docket: Docket) -> None:
    start = docket.clock.now()
    await docket.add(poll, key="poll")()

    await advance(docket, timedelta(hours=1))

    runs = await assert_ran(docket, poll, key="poll", times=5)
    assert [r.started_at - start for r in runs] == [timedelta(minutes=15 * n) for n in range(5)]
    for n in range(5):
        await assert_ran(docket, poll, at=start + timedelta(minutes=15 * n), times=1)


async def test_work_due_just_after_the_target_warns_and_shows_in_failures(
    docket: Docket,
) -> None:
    target = docket.clock.now() + timedelta(days=30)
    await docket.add(job, when=target + timedelta(milliseconds=3), key="remind-ann")("ann")

    with pytest.warns(NearMissWarning) as caught:
        await advance(docket, timedelta(days=30))

    [warning] = caught
    assert "job('ann') key='remind-ann' is due 3 ms after the target" in str(warning.message)
    assert WALL_CLOCK_HINT in str(warning.message)

    with pytest.raises(AssertionError) as failure:
        await assert_ran(docket, job, args=("ann",))
    assert "job('ann') key='remind-ann' is due 3 ms after now" in str(failure.value)
    assert WALL_CLOCK_HINT in str(failure.value)

    await advance(docket, timedelta(milliseconds=3))
    await assert_ran(docket, job, args=("ann",), at=target + timedelta(milliseconds=3))
