"""docket_testing internals: argument checks, cleanup, strategies (on the memory twin).

How the helpers behave on every engine is in ``conformance/test_testing_helpers.py``;
the plugin as a user's project sees it is in ``tests/test_plugin.py``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings

from docket import Docket, ExecutionState, SystemClock, VirtualClock, Worker
from docket.dependencies import Perpetual
from docket.engines import memory
from docket.serialization import decode_call, encode_call
from docket_testing import (
    RunawayWork,
    advance,
    assert_no_tasks,
    assert_not_scheduled,
    assert_scheduled,
    discard,
    open_docket,
    run_due,
)
from docket_testing.dockets import docket_location
from docket_testing.strategies import (
    Add,
    Advance,
    Cancel,
    Replace,
    RunDue,
    apply_operation,
    clock_starts,
    delays,
    json_values,
    operation_sequences,
    schedule_times,
    task_arguments,
    task_keys,
)

BASE = datetime(2030, 1, 2, 3, 4, 5, 6000, tzinfo=timezone.utc)
PROPERTY_SETTINGS = settings(max_examples=30, deadline=None)

ran: list[str] = []


async def job(*args: object, **kwargs: object) -> None:
    ran.append(repr((args, kwargs)))


async def spin(again: Perpetual = Perpetual()) -> None:
    pass


# -- run_due and advance: arguments and guards ----------------------------------


async def test_run_due_rejects_a_bad_max_runs(docket: Docket) -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_runs must be a positive integer"):
            await run_due(docket, max_runs=bad)  # type: ignore[arg-type]


async def test_a_runaway_leaves_the_callers_worker_usable(docket: Docket, worker: Worker) -> None:
    await docket.add(spin, key="spinner")()
    with pytest.raises(RunawayWork, match="more than 10 executions"):
        await run_due(docket, worker=worker, max_runs=10)

    await docket.cancel("spinner")
    await docket.add(job, key="after")("after")
    executions = await run_due(docket, worker=worker)
    assert [(e.key, e.state) for e in executions] == [("after", ExecutionState.COMPLETED)]


async def test_exactly_max_runs_is_not_a_runaway(docket: Docket) -> None:
    for n in range(5):
        await docket.add(job)(n)
    assert len(await run_due(docket, max_runs=5)) == 5


async def test_advance_needs_a_virtual_clock() -> None:
    async with open_docket(clock=SystemClock()) as docket:
        with pytest.raises(TypeError, match="advance needs a docket driven by a VirtualClock"):
            await advance(docket, timedelta(seconds=1))


async def test_advance_checks_its_argument(docket: Docket) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await advance(docket, datetime(2030, 1, 1))  # noqa: DTZ001 (the point of the test)
    with pytest.raises(TypeError, match="timedelta or datetime"):
        await advance(docket, 5)  # type: ignore[arg-type]


async def test_advance_by_nothing_runs_what_is_due(docket: Docket) -> None:
    start = docket.clock.now()
    await docket.add(job, key="now")("now")
    executions = await advance(docket, timedelta(0))
    assert [e.key for e in executions] == ["now"]
    assert docket.clock.now() == start


async def test_run_due_works_on_the_system_clock_too() -> None:
    async with open_docket(clock=SystemClock()) as docket:
        await docket.add(job, key="system")("system")
        executions = await run_due(docket)
        assert [(e.key, e.state) for e in executions] == [("system", ExecutionState.COMPLETED)]


# -- assertions: arguments ------------------------------------------------------------


async def test_assertions_check_when_and_within(docket: Docket) -> None:
    naive = datetime(2030, 1, 1)  # noqa: DTZ001 (the point of the test)
    with pytest.raises(ValueError, match="when must be a timezone-aware datetime"):
        await assert_scheduled(docket, job, when=naive)
    with pytest.raises(ValueError, match="within must be a non-negative timedelta"):
        await assert_scheduled(docket, job, when=BASE, within=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="within needs when="):
        await assert_not_scheduled(docket, job, within=timedelta(seconds=1))


async def test_when_is_compared_at_storage_resolution(docket: Docket) -> None:
    when = docket.clock.now() + timedelta(hours=1, microseconds=123_456)
    await docket.add(job, when=when)()
    found = await assert_scheduled(docket, job, when=when)
    assert found.when == when.replace(microsecond=when.microsecond // 1000 * 1000)
    # The same instant in another zone is the same instant.
    elsewhere = when.astimezone(timezone(timedelta(hours=-7)))
    await assert_scheduled(docket, job, when=elsewhere)


async def test_assert_no_tasks_lists_what_is_scheduled(docket: Docket) -> None:
    when = docket.clock.now() + timedelta(days=2)
    await docket.add(job, when=when, key="left-over")("x", flag=True)
    with pytest.raises(AssertionError) as raised:
        await assert_no_tasks(docket)
    assert f"{when.isoformat()}  job('x', flag=True) key='left-over'  [scheduled]" in str(
        raised.value
    )


# -- test dockets and cleanup ---------------------------------------------------------


def test_docket_location() -> None:
    assert docket_location("memory://", "n") == "memory://n"
    assert docket_location("memory://shared", "n") == "memory://shared"
    assert docket_location("redis://localhost:6379/2", "n") == "redis://localhost:6379/2"
    with pytest.raises(ValueError, match="must start with one of"):
        docket_location("http://localhost", "n")


async def test_open_docket_leaves_no_memory_store_behind() -> None:
    async with open_docket() as docket:
        await docket.add(job)()
        assert memory.has_store(docket.url, docket.name)
    assert not memory.has_store(docket.url, docket.name)


async def test_open_docket_deletes_every_redis_key() -> None:
    pytest.importorskip("fakeredis")
    from docket.engines.redis.connections import connect

    url = "fakeredis://cleanup-test"
    async with open_docket(url) as docket:
        await docket.add(job, when=docket.clock.now() + timedelta(hours=1))()
        await docket.add(job)()
        await run_due(docket)
        pattern = "{" + docket.name + "}:*"
        clients = connect(url, pattern.rstrip("*"))
        try:
            assert [key async for key in clients.commands.scan_iter(match=pattern)] != []
        finally:
            await clients.close()
    clients = connect(url, pattern.rstrip("*"))
    try:
        assert [key async for key in clients.commands.scan_iter(match=pattern)] == []
    finally:
        await clients.close()


async def test_discard_logs_rather_than_raises(caplog: pytest.LogCaptureFixture) -> None:
    unreachable = Docket(name="nowhere", url="redis://127.0.0.1:1/0", clock=VirtualClock())
    with caplog.at_level(logging.WARNING, logger="docket_testing.dockets"):
        await discard(unreachable)
    assert "Could not delete the storage of" in caplog.text


# -- strategies -------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    when=schedule_times(
        BASE,
        earliest=timedelta(seconds=-5),
        latest=timedelta(hours=1),
        resolution=timedelta(seconds=1),
    )
)
def test_schedule_times_stay_near_the_base_at_the_resolution(when: datetime) -> None:
    assert when.tzinfo is timezone.utc
    assert BASE - timedelta(seconds=5) <= when <= BASE + timedelta(hours=1)
    assert (when - BASE) % timedelta(seconds=1) == timedelta(0)


@PROPERTY_SETTINGS
@given(start=clock_starts(), delay=delays(latest=timedelta(days=30)))
def test_clock_starts_and_delays_round_trip_through_storage(
    start: datetime, delay: timedelta
) -> None:
    assert start.tzinfo is timezone.utc and start.microsecond % 1000 == 0
    assert delay % timedelta(milliseconds=1) == timedelta(0)
    VirtualClock(start=start).advance(delay)


@PROPERTY_SETTINGS
@given(key=task_keys(), pooled=task_keys(pool=["a", "b"]))
def test_task_keys(key: str, pooled: str) -> None:
    assert isinstance(key, str) and key
    assert pooled in ("a", "b")


@PROPERTY_SETTINGS
@given(call=task_arguments(), value=json_values())
def test_arguments_round_trip_through_the_codec(
    call: tuple[tuple[object, ...], dict[str, object]], value: object
) -> None:
    args, kwargs = call
    assert all(name.isidentifier() for name in kwargs)
    assert decode_call(encode_call("job", (*args, value), kwargs, job)) == ((*args, value), kwargs)


def test_strategies_check_their_arguments() -> None:
    with pytest.raises(ValueError, match="whole milliseconds"):
        delays(resolution=timedelta(microseconds=10))
    with pytest.raises(ValueError, match="must not be before earliest"):
        delays(earliest=timedelta(seconds=1), latest=timedelta(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule_times(datetime(2030, 1, 1))  # noqa: DTZ001 (the point of the test)
    with pytest.raises(ValueError, match="non-empty strings"):
        task_keys(pool=[])


@settings(max_examples=25, deadline=None)
@given(operations=operation_sequences(max_size=12))
async def test_any_operation_sequence_ends_with_everything_run(
    docket_url: str, operations: list[Add | Replace | Cancel | Advance | RunDue]
) -> None:
    async with open_docket(docket_url) as docket:
        for operation in operations:
            outcome = await apply_operation(docket, job, operation)
            if isinstance(operation, (Add, Replace)):
                assert outcome is not None and not isinstance(outcome, list)
                assert outcome.function_name == "job"
        await advance(docket, timedelta(hours=2))
        await assert_no_tasks(docket)
