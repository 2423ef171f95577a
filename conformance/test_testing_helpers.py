"""docket_testing's helpers behave the same on every engine a VirtualClock can drive.

These tests use the plugin's own ``clock`` and ``docket`` fixtures; the
``docket_url`` fixture is overridden here to run them on each virtual-clock
target: the memory twin, the Redis engine on a real server, and the Redis
engine on fakeredis (which the harness otherwise runs on the system clock).

Covered: ``run_due`` (due order, what it returns, work scheduled for now,
final failures and their tracebacks, the runaway guard), ``advance`` (one due
time at a time: retries with delays, perpetual and cron work, replaced and
cancelled work), the assertions with ``when``, and determinism.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from conformance.conftest import virtual_engine_params, virtual_engine_url
from docket import (
    CurrentDocket,
    Docket,
    ExecutionState,
    ExponentialRetry,
    Retry,
    TaskKey,
    VirtualClock,
)
from docket.dependencies import Cron, Perpetual
from docket.testing import (
    assert_no_tasks as plain_assert_no_tasks,
)
from docket.testing import (
    assert_task_count,
    assert_task_not_scheduled,
    assert_task_scheduled,
)
from docket_testing import (
    RunawayWork,
    TaskFailedInTest,
    advance,
    assert_no_tasks,
    assert_not_scheduled,
    assert_scheduled,
    open_docket,
    run_due,
)


@pytest.fixture(params=virtual_engine_params())
def docket_url(request: pytest.FixtureRequest) -> str:
    """The plugin's ``docket`` fixture opens this: each engine in turn."""
    return virtual_engine_url(request, "testing-helpers")


Run = tuple[str, tuple[object, ...], datetime]
RUNS: dict[str, list[Run]] = {}
"""What the tasks below recorded, by docket name: (key, args, virtual time at run)."""


@pytest.fixture(autouse=True)
def runs(docket: Docket) -> Iterator[list[Run]]:
    """This test's run log."""
    RUNS[docket.name] = []
    yield RUNS[docket.name]
    del RUNS[docket.name]


def note(docket: Docket, key: str, *args: object) -> None:
    RUNS[docket.name].append((key, args, docket.clock.now()))


async def job(*args: object, docket: Docket = CurrentDocket(), key: str = TaskKey()) -> None:
    note(docket, key, *args)


async def boom(label: str, docket: Docket = CurrentDocket(), key: str = TaskKey()) -> None:
    note(docket, key, label)
    raise ValueError(f"boom: {label}")


async def flaky(
    failures: int,
    retry: Retry = Retry(attempts=4, delay=timedelta(minutes=10)),
    docket: Docket = CurrentDocket(),
    key: str = TaskKey(),
) -> str:
    note(docket, key, retry.attempt)
    if retry.attempt <= failures:
        raise ConnectionError(f"attempt {retry.attempt} failed")
    return f"ok after {retry.attempt}"


async def backing_off(
    retry: ExponentialRetry = ExponentialRetry(
        attempts=4, minimum_delay=timedelta(seconds=30), maximum_delay=timedelta(minutes=5)
    ),
    docket: Docket = CurrentDocket(),
    key: str = TaskKey(),
) -> None:
    note(docket, key, retry.attempt)
    raise ConnectionError("still down")


async def hourly(
    count: int,
    perpetual: Perpetual = Perpetual(every=timedelta(hours=1)),
    docket: Docket = CurrentDocket(),
    key: str = TaskKey(),
) -> None:
    note(docket, key, count)
    if count == 3:
        perpetual.cancel()
    else:
        perpetual.perpetuate(count + 1)


async def spin(
    perpetual: Perpetual = Perpetual(every=timedelta(0)),
    docket: Docket = CurrentDocket(),
    key: str = TaskKey(),
) -> None:
    note(docket, key)


async def at_nine(
    cron: Cron = Cron("0 9 * * *", automatic=False),
    docket: Docket = CurrentDocket(),
    key: str = TaskKey(),
) -> None:
    note(docket, key)


async def chain(n: int, docket: Docket = CurrentDocket(), key: str = TaskKey()) -> None:
    note(docket, key, n)
    if n < 3:
        await docket.add(chain, key=f"chain-{n + 1}")(n + 1)


# -- run_due ----------------------------------------------------------------


async def test_run_due_runs_due_work_in_due_order_and_leaves_the_future(
    docket: Docket, runs: list[Run]
) -> None:
    now = docket.clock.now()
    await docket.add(job, when=now + timedelta(seconds=1), key="future")("future")
    await docket.add(job, when=now, key="now-1")("now-1")
    await docket.add(job, when=now - timedelta(minutes=5), key="past")("past")
    await docket.add(job, when=now, key="now-2")("now-2")
    await docket.add(job, when=now - timedelta(minutes=5), key="past-tie")("past-tie")

    executions = await run_due(docket)

    order = ["past", "past-tie", "now-1", "now-2"]
    assert [e.key for e in executions] == order
    assert [key for key, _, _ in runs] == order
    assert all(at == now for _, _, at in runs), "run_due must not move time"
    assert all(e.state is ExecutionState.COMPLETED for e in executions)
    await assert_scheduled(docket, job, args=("future",), when=now + timedelta(seconds=1))
    assert await run_due(docket) == []


async def test_run_due_runs_work_that_runs_schedule_for_now(
    docket: Docket, runs: list[Run]
) -> None:
    await docket.add(chain, key="chain-1")(1)
    executions = await run_due(docket)
    assert [e.key for e in executions] == ["chain-1", "chain-2", "chain-3"]
    assert [args for _, args, _ in runs] == [(1,), (2,), (3,)]
    await assert_no_tasks(docket)


async def test_run_due_returns_results_and_records(docket: Docket) -> None:
    await docket.add(flaky, key="fine")(0)
    [execution] = await run_due(docket)
    assert execution.state is ExecutionState.COMPLETED
    assert await execution.get_result() == "ok after 1"
    stored = await docket.get_execution("fine")
    assert stored is not None and stored.state is ExecutionState.COMPLETED


async def test_a_final_failure_fails_with_the_tasks_own_traceback(
    docket: Docket, runs: list[Run]
) -> None:
    await docket.add(boom, key="first")("first")
    await docket.add(job, key="between")("between")
    await docket.add(boom, key="second")("second")

    with pytest.raises(TaskFailedInTest) as raised:
        await run_due(docket)

    # Every due run happened before the failure was reported.
    assert [key for key, _, _ in runs] == ["first", "between", "second"]
    message = str(raised.value)
    assert "boom('first') key='first' failed: ValueError: boom: first" in message
    assert "and 1 more: boom('second') key='second'" in message
    cause = raised.value.__cause__
    assert isinstance(cause, ValueError) and str(cause) == "boom: first"
    frames = [frame.name for frame in traceback.extract_tb(cause.__traceback__)]
    assert frames[-1] == "boom", frames
    assert raised.value.execution.key == "first"
    assert [e.key for e in raised.value.failures] == ["first", "second"]


async def test_raise_errors_false_returns_the_failed_runs(docket: Docket) -> None:
    await docket.add(boom, key="bad")("bad")
    await docket.add(job, key="good")("good")
    executions = await run_due(docket, raise_errors=False)
    assert [(e.key, e.state) for e in executions] == [
        ("bad", ExecutionState.FAILED),
        ("good", ExecutionState.COMPLETED),
    ]
    assert executions[0].error is not None and "boom: bad" in executions[0].error
    with pytest.raises(ValueError, match="boom: bad"):
        await executions[0].get_result()


async def test_a_perpetual_task_with_no_interval_is_stopped_with_a_clear_error(
    docket: Docket, runs: list[Run]
) -> None:
    await docket.add(spin, key="spinner")()
    with pytest.raises(RunawayWork) as raised:
        await run_due(docket, max_runs=25)
    assert "more than 25 executions" in str(raised.value)
    assert "spin() key='spinner'" in str(raised.value)
    assert "Perpetual(every=0)" in str(raised.value)
    assert len(runs) == 26
    assert {at for _, _, at in runs} == {docket.clock.now()}


# -- advance ----------------------------------------------------------------


async def test_advance_runs_each_task_at_its_own_time(docket: Docket, runs: list[Run]) -> None:
    start = docket.clock.now()
    for hours in (3, 1, 2):
        await docket.add(job, when=start + timedelta(hours=hours), key=f"h{hours}")(hours)

    executions = await advance(docket, timedelta(hours=2, minutes=30))

    assert [e.key for e in executions] == ["h1", "h2"]
    assert runs == [
        ("h1", (1,), start + timedelta(hours=1)),
        ("h2", (2,), start + timedelta(hours=2)),
    ]
    assert docket.clock.now() == start + timedelta(hours=2, minutes=30)
    await assert_scheduled(docket, job, args=(3,), when=start + timedelta(hours=3))

    await advance(docket, start + timedelta(hours=3))
    assert runs[-1] == ("h3", (3,), start + timedelta(hours=3))
    await assert_no_tasks(docket)


async def test_advance_follows_retries_with_delays(docket: Docket, runs: list[Run]) -> None:
    start = docket.clock.now()
    await docket.add(flaky, key="flaky")(2)

    # Stop within the docket's execution_ttl (15 minutes) of the last run, or
    # its result has expired by the time the test reads it.
    executions = await advance(docket, timedelta(minutes=30))

    assert runs == [
        ("flaky", (1,), start),
        ("flaky", (2,), start + timedelta(minutes=10)),
        ("flaky", (3,), start + timedelta(minutes=20)),
    ]
    assert [e.state for e in executions] == [
        ExecutionState.QUEUED,
        ExecutionState.QUEUED,
        ExecutionState.COMPLETED,
    ]
    assert [e.attempt for e in executions] == [1, 2, 3]
    assert await executions[-1].get_result() == "ok after 3"


async def test_advance_follows_exponential_backoff_to_the_final_failure(
    docket: Docket, runs: list[Run]
) -> None:
    start = docket.clock.now()
    await docket.add(backing_off, key="backoff")()

    with pytest.raises(TaskFailedInTest, match="ConnectionError: still down"):
        await advance(docket, timedelta(hours=1))

    offsets = [at - start for _, _, at in runs]
    assert offsets == [
        timedelta(0),
        timedelta(seconds=30),
        timedelta(seconds=90),
        timedelta(seconds=210),
    ]
    # Time stopped at the failure.
    assert docket.clock.now() == start + timedelta(seconds=210)


async def test_advance_follows_a_perpetual_chain_until_it_cancels_itself(
    docket: Docket, runs: list[Run]
) -> None:
    start = docket.clock.now()
    await docket.add(hourly, key="hourly")(1)

    executions = await advance(docket, timedelta(hours=2))
    assert runs == [("hourly", (n,), start + timedelta(hours=n - 1)) for n in (1, 2, 3)]
    assert [e.state for e in executions][:2] == [ExecutionState.COMPLETED] * 2
    assert executions[2].state is ExecutionState.CANCELLED
    await assert_no_tasks(docket)


async def test_advance_stops_at_the_target_with_perpetual_work_pending(
    docket: Docket, runs: list[Run]
) -> None:
    start = docket.clock.now()
    await docket.add(hourly, key="hourly")(0)
    await advance(docket, timedelta(minutes=90))
    assert [args for _, args, _ in runs] == [(0,), (1,)]
    await assert_scheduled(docket, hourly, args=(2,), key="hourly", when=start + timedelta(hours=2))


async def test_advance_follows_a_cron_schedule(docket: Docket, runs: list[Run]) -> None:
    start = docket.clock.now()
    first = start.replace(hour=9, minute=0, second=0, microsecond=0)
    if first <= start:
        first += timedelta(days=1)
    await docket.add(at_nine, when=first, key="nine")()

    await advance(docket, first + timedelta(days=2, hours=1))

    assert [at for _, _, at in runs] == [first + timedelta(days=n) for n in range(3)]
    await assert_scheduled(docket, at_nine, key="nine", when=first + timedelta(days=3))


async def test_advance_runs_the_replacement_not_the_original(
    docket: Docket, runs: list[Run]
) -> None:
    start = docket.clock.now()
    await docket.add(job, when=start + timedelta(hours=1), key="k")("original")
    replaced = await docket.replace(job, when=start + timedelta(hours=2), key="k")("replacement")

    executions = await advance(docket, timedelta(hours=3))

    assert runs == [("k", ("replacement",), start + timedelta(hours=2))]
    assert [(e.key, e.generation) for e in executions] == [("k", replaced.generation)]


async def test_advance_skips_cancelled_work(docket: Docket, runs: list[Run]) -> None:
    start = docket.clock.now()
    await docket.add(job, when=start + timedelta(hours=1), key="cancel-me")("x")
    await docket.add(job, when=start + timedelta(hours=2), key="keep-me")("y")
    await docket.cancel("cancel-me")
    cancelled = await docket.get_execution("cancel-me")
    assert cancelled is not None and cancelled.state is ExecutionState.CANCELLED

    await advance(docket, timedelta(hours=3))

    assert [key for key, _, _ in runs] == ["keep-me"]


async def test_advance_refuses_to_go_backwards(docket: Docket) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        await advance(docket, timedelta(seconds=-1))
    with pytest.raises(ValueError, match="must not be before now"):
        await advance(docket, docket.clock.now() - timedelta(seconds=1))


# -- assertions ---------------------------------------------------------------


async def test_assert_scheduled_matches_when_exactly_or_within(docket: Docket) -> None:
    when = docket.clock.now() + timedelta(days=30)
    added = await docket.add(job, when=when, key="reminder")("ann", 3)

    found = await assert_scheduled(docket, job, args=("ann", 3), key="reminder", when=when)
    assert found.key == added.key and found.when == when
    await assert_scheduled(
        docket, "job", when=when + timedelta(minutes=1), within=timedelta(minutes=1)
    )
    await assert_not_scheduled(docket, job, when=when + timedelta(seconds=1))

    with pytest.raises(AssertionError) as raised:
        await assert_scheduled(docket, job, when=when + timedelta(seconds=1))
    message = str(raised.value)
    assert f"at {(when + timedelta(seconds=1)).isoformat()}" in message
    assert f"{when.isoformat()}  job('ann', 3) key='reminder'  [scheduled]" in message


async def test_assert_scheduled_matches_kwargs_as_a_subset(docket: Docket) -> None:
    async def email(to: str, subject: str, urgent: bool = False) -> None: ...

    await docket.add(email, key="mail")(to="ann@example.com", subject="hi", urgent=True)
    await assert_scheduled(docket, email, kwargs={"to": "ann@example.com"})
    await assert_scheduled(docket, email, kwargs={"to": "ann@example.com", "urgent": True})
    await assert_not_scheduled(docket, email, kwargs={"to": "bob@example.com"})
    with pytest.raises(AssertionError, match="expected email kwargs⊇{'urgent': False}"):
        await assert_scheduled(docket, email, kwargs={"urgent": False})


async def test_docket_testing_assertions(docket: Docket) -> None:
    await plain_assert_no_tasks(docket)
    await docket.add(job, key="one")(1)
    await docket.add(job, key="two", when=docket.clock.now() + timedelta(hours=1))(2)
    await docket.add(flaky, key="three")(0)

    await assert_task_scheduled(docket, job, args=(1,), key="one")
    await assert_task_not_scheduled(docket, job, args=(3,))
    await assert_task_count(docket, job, count=2)
    await assert_task_count(docket, count=3)
    with pytest.raises(AssertionError, match=r"expected 1 pending execution\(s\) of job, found 2"):
        await assert_task_count(docket, job, count=1)
    with pytest.raises(AssertionError, match="expected job args=\\(3,\\) to be scheduled"):
        await assert_task_scheduled(docket, job, args=(3,))
    with pytest.raises(AssertionError, match="expected no tasks, found 3"):
        await plain_assert_no_tasks(docket)

    await advance(docket, timedelta(hours=1))
    await plain_assert_no_tasks(docket)
    await assert_task_count(docket, job, count=0)


# -- determinism ------------------------------------------------------------


async def scenario(url: str, start: datetime) -> list[tuple[object, ...]]:
    """Ties, past-due work, retries and a perpetual chain; returns who ran when."""
    async with open_docket(url, clock=VirtualClock(start=start)) as docket:
        RUNS[docket.name] = []
        try:
            for n in range(6):
                await docket.add(job, when=start + timedelta(minutes=n % 3))(f"tie-{n}")
            await docket.add(job, when=start - timedelta(hours=1))("past")
            await docket.add(flaky, key="flaky")(2)
            await docket.add(hourly, key="hourly")(1)
            runs = await advance(docket, timedelta(hours=3))
            outcome = [(e.function_name, e.state.value, e.attempt) for e in runs]
            log = [(args, at - start) for _, args, at in RUNS[docket.name]]
        finally:
            del RUNS[docket.name]
    return [*outcome, *log]


async def test_the_same_scenario_runs_the_same_way_twice(docket_url: str) -> None:
    start = datetime(2031, 5, 6, 7, 8, 9, 10_000, tzinfo=timezone.utc)
    first = await scenario(docket_url, start)
    second = await scenario(docket_url, start)
    assert first == second
    assert len(first) > 20
