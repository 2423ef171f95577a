"""docket_testing's run history, ``assert_ran``/``assert_not_ran`` and near-miss hints
(on the memory twin): what a run records, whose history it is, argument checks,
failure messages, and when ``NearMissWarning`` is and is not raised.

How the history and ``assert_ran`` behave on every engine is in
``conformance/test_run_history.py``.
"""

from __future__ import annotations

import dataclasses
import gc
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest

from docket import Docket, ExecutionState, Retry, SystemClock, VirtualClock, Worker
from docket.dependencies import Perpetual
from docket_testing import (
    NearMissWarning,
    Run,
    RunawayWork,
    TaskFailedInTest,
    advance,
    assert_no_tasks,
    assert_not_ran,
    assert_ran,
    assert_scheduled,
    clear_run_history,
    open_docket,
    run_due,
    run_history,
)
from docket_testing.history import DESCRIBED_RUNS, describe_runs

WALL_CLOCK_HINT = "the application may be reading the wall clock"


async def job(*args: object, **kwargs: object) -> None:
    pass


async def boom(label: str) -> None:
    raise ValueError(f"{label} is broken")


async def tick(perpetual: Perpetual = Perpetual(every=timedelta(milliseconds=200))) -> None:
    pass


async def spin(again: Perpetual = Perpetual()) -> None:
    pass


@contextmanager
def raises_naming(error: type[Exception], *names: str) -> Iterator[None]:
    """The block raises ``error`` whose message contains every one of ``names``."""
    with pytest.raises(error) as raised:
        yield
    for name in names:
        assert name in str(raised.value), (name, str(raised.value))


# -- what a run records -------------------------------------------------------------


async def test_a_run_records_its_call_outcome_and_virtual_start(docket: Docket) -> None:
    start = docket.clock.now()
    later = start + timedelta(hours=2)
    await docket.add(job, key="first")(1, "two", flag=True)
    await docket.add(job, when=later, key="second")(3)

    await advance(docket, timedelta(days=1))

    first, second = run_history(docket)
    assert first == Run(
        function_name="job",
        args=(1, "two"),
        kwargs=first.kwargs,
        key="first",
        attempt=1,
        when=start,
        started_at=start,
        state=ExecutionState.COMPLETED,
        error=None,
    )
    assert dict(first.kwargs) == {"flag": True}
    assert (second.args, second.when, second.started_at) == ((3,), later, later)
    assert first.call == "job(1, 'two', flag=True) key='first'"


async def test_a_final_failure_is_recorded_before_it_fails_the_test(docket: Docket) -> None:
    await docket.add(boom, key="b")("order 7")
    with pytest.raises(TaskFailedInTest):
        await run_due(docket)
    [run] = run_history(docket)
    assert (run.state, run.error) == (ExecutionState.FAILED, "ValueError: order 7 is broken")
    await assert_ran(docket, boom, args=("order 7",), times=1)


async def test_runs_of_a_runaway_are_recorded(docket: Docket) -> None:
    await docket.add(spin, key="spinner")()
    with pytest.raises(RunawayWork):
        await run_due(docket, max_runs=5)
    assert len(run_history(docket)) > 5
    await assert_ran(docket, spin, key="spinner")


async def test_runs_of_a_callers_worker_are_recorded(docket: Docket, worker: Worker) -> None:
    await docket.add(job, key="mine")("mine")
    await run_due(docket, worker=worker)
    await assert_ran(docket, job, key="mine", times=1)


async def test_a_run_is_frozen_and_its_kwargs_read_only(docket: Docket) -> None:
    await docket.add(job)(flag=1)
    await run_due(docket)
    [run] = run_history(docket)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.key = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        run.kwargs["flag"] = 2  # type: ignore[index]


# -- whose history ------------------------------------------------------------------------


async def test_each_docket_has_its_own_history(docket: Docket) -> None:
    await docket.add(job, key="here")()
    await run_due(docket)
    async with open_docket() as other:
        assert run_history(other) == []
        await other.add(job, key="there")()
        await run_due(other)
        assert [r.key for r in run_history(other)] == ["there"]
    assert [r.key for r in run_history(docket)] == ["here"]


async def test_the_history_is_a_copy_and_can_be_cleared(docket: Docket) -> None:
    await docket.add(job, key="a")()
    await run_due(docket)
    seen = run_history(docket)
    seen.clear()
    assert len(run_history(docket)) == 1

    clear_run_history(docket)
    assert run_history(docket) == []
    await assert_not_ran(docket, job)
    await docket.add(job, key="b")()
    await run_due(docket)
    assert [r.key for r in run_history(docket)] == ["b"]


async def test_the_history_does_not_keep_its_docket_alive() -> None:
    async with open_docket() as docket:
        await docket.add(job)()
        await run_due(docket)
        assert run_history(docket)
    gone = weakref.ref(docket)
    del docket
    gc.collect()
    assert gone() is None


def test_history_needs_a_docket() -> None:
    with raises_naming(TypeError, "docket", "'nope'"):
        run_history("nope")  # type: ignore[arg-type]
    with raises_naming(TypeError, "docket", "'nope'"):
        clear_run_history("nope")  # type: ignore[arg-type]


# -- assert_ran and assert_not_ran --------------------------------------------------------


async def test_assert_ran_matches_function_arguments_key_and_count(docket: Docket) -> None:
    await docket.add(job, key="a")("ann", channel="sms")
    await docket.add(job, key="b")("bob")
    await run_due(docket)

    assert len(await assert_ran(docket, job)) == 2
    assert len(await assert_ran(docket, "job", times=2)) == 2
    [ann] = await assert_ran(docket, job, args=("ann",), kwargs={"channel": "sms"})
    assert ann.key == "a"
    await assert_ran(docket, job, args=["bob"], kwargs={}, key="b", times=1)
    await assert_ran(docket, boom, times=0)
    await assert_not_ran(docket, job, args=("cy",))
    await assert_not_ran(docket, boom)
    # kwargs match exactly, not as a subset.
    await assert_not_ran(docket, job, args=("ann",), kwargs={})
    await assert_not_ran(docket, job, kwargs={"channel": "sms", "extra": 1})


async def test_assert_ran_matches_the_virtual_start_time(docket: Docket) -> None:
    start = docket.clock.now()
    at = start + timedelta(hours=1, microseconds=400)
    await docket.add(job, when=at, key="hourly")()
    await advance(docket, timedelta(hours=2))

    await assert_ran(docket, job, at=at)  # compared at storage's millisecond resolution
    await assert_ran(docket, job, at=at.astimezone(timezone(timedelta(hours=5))))
    a_second_off = start + timedelta(hours=1, seconds=1)
    await assert_not_ran(docket, job, at=a_second_off)
    await assert_ran(docket, job, at=a_second_off, within=timedelta(seconds=1))
    with pytest.raises(AssertionError, match="at .* ± 0:00:00.500000"):
        await assert_ran(docket, job, at=a_second_off, within=timedelta(milliseconds=500))


async def test_assert_ran_failure_lists_what_ran(docket: Docket) -> None:
    await docket.add(job, key="a")("ann")
    await docket.add(boom, key="b")("bob")
    await run_due(docket, raise_errors=False)

    with pytest.raises(AssertionError) as failure:
        await assert_ran(docket, job, args=("cy",))
    message = str(failure.value)
    assert "expected job args=('cy',) to have run at least once; it ran 0 times" in message
    assert "job('ann') key='a'  [completed]" in message
    assert "boom('bob') key='b'  [failed: ValueError: bob is broken]" in message
    assert WALL_CLOCK_HINT not in message

    with pytest.raises(AssertionError, match="to have run 3 times; it ran once"):
        await assert_ran(docket, job, times=3)
    with pytest.raises(AssertionError, match="to have run 0 times; it ran once"):
        await assert_ran(docket, job, times=0)


async def test_assert_ran_failure_says_when_nothing_ran(docket: Docket) -> None:
    with pytest.raises(AssertionError, match=r"what ran:\n  \(nothing ran\)"):
        await assert_ran(docket, job)


async def test_assert_ran_failure_lists_matching_work_not_run_yet(docket: Docket) -> None:
    tomorrow = docket.clock.now() + timedelta(days=1)
    await docket.add(job, when=tomorrow, key="later")("ann")
    await advance(docket, timedelta(hours=23))
    with pytest.raises(AssertionError) as failure:
        await assert_ran(docket, job, args=("ann",))
    message = str(failure.value)
    assert "Matching work not run yet:" in message
    assert f"{tomorrow.isoformat()}  job('ann') key='later'  [scheduled]" in message
    assert WALL_CLOCK_HINT not in message  # an hour away is no near miss


async def test_assert_not_ran_failure_lists_the_matching_runs(docket: Docket) -> None:
    await docket.add(job, key="a")("ann")
    await docket.add(job, key="b")("bob")
    await run_due(docket)
    with pytest.raises(AssertionError) as failure:
        await assert_not_ran(docket, job, args=("bob",))
    message = str(failure.value)
    assert "expected job args=('bob',) not to have run; it ran once:" in message
    assert "job('bob') key='b'" in message
    assert "job('ann')" not in message


def test_describe_runs_shows_the_latest_runs() -> None:
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    runs = [
        Run("job", (n,), MappingProxyType({}), f"k{n}", 1, start, start, ExecutionState.COMPLETED)
        for n in range(DESCRIBED_RUNS + 3)
    ]
    text = describe_runs(runs)
    assert text.splitlines()[0] == "  … 3 earlier run(s) not shown"
    assert "job(3) key='k3'" in text and "job(2) key='k2'" not in text


@pytest.mark.parametrize(
    ("arguments", "error", "names"),
    [
        ({"times": -1}, ValueError, ["times", "-1"]),
        ({"times": True}, ValueError, ["times", "True"]),
        ({"times": 1.5}, ValueError, ["times", "1.5"]),
        ({"at": datetime(2030, 1, 1)}, ValueError, ["at", "datetime.datetime(2030, 1, 1, 0, 0)"]),  # noqa: DTZ001
        ({"at": "noon"}, ValueError, ["at", "'noon'"]),
        ({"within": timedelta(seconds=1)}, ValueError, ["within", "at=", "timedelta(seconds=1)"]),
        (
            {"at": datetime(2030, 1, 1, tzinfo=timezone.utc), "within": timedelta(seconds=-1)},
            ValueError,
            ["within", "days=-1"],
        ),
        ({"args": "ann"}, TypeError, ["args", "'ann'"]),
        ({"kwargs": [("channel", "sms")]}, TypeError, ["kwargs", "[('channel', 'sms')]"]),
        ({"key": 5}, TypeError, ["key", "5"]),
    ],
)
async def test_assert_ran_names_a_bad_argument(
    docket: Docket, arguments: dict[str, Any], error: type[Exception], names: list[str]
) -> None:
    with raises_naming(error, *names):
        await assert_ran(docket, job, **arguments)
    if "times" not in arguments:
        with raises_naming(error, *names):
            await assert_not_ran(docket, job, **arguments)


async def test_assert_ran_names_a_bad_function(docket: Docket) -> None:
    with raises_naming(TypeError, "function", "42"):
        await assert_ran(docket, 42)  # type: ignore[arg-type]
    with raises_naming(TypeError, "function", "42"):
        await assert_not_ran(docket, 42)  # type: ignore[arg-type]


# -- near misses --------------------------------------------------------------------------


async def test_advance_warns_of_work_due_just_after_its_target(docket: Docket) -> None:
    target = docket.clock.now() + timedelta(days=30)
    await docket.add(job, when=target + timedelta(milliseconds=3), key="remind-ann")("ann")

    with pytest.warns(NearMissWarning) as caught:
        await advance(docket, timedelta(days=30))

    [warning] = caught
    message = str(warning.message)
    assert "advance stopped at" in message
    assert "job('ann') key='remind-ann' is due 3 ms after the target" in message
    assert WALL_CLOCK_HINT in message and "docs/testing.md 'Application clocks'" in message
    assert warning.filename == __file__  # it points at the test's own line
    assert isinstance(warning.message, NearMissWarning)
    assert warning.message.target == target
    assert [e.key for e in warning.message.executions] == ["remind-ann"]


async def test_run_due_warns_of_work_due_just_after_now(docket: Docket) -> None:
    await docket.add(job, when=docket.clock.now() + timedelta(milliseconds=500), key="soon")()
    with pytest.warns(
        NearMissWarning, match="(?s)run_due stopped at .*key='soon' is due 500 ms after"
    ):
        await run_due(docket)


async def no_warning_from(action: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", NearMissWarning)
        await action


async def test_work_a_second_or_more_after_the_target_is_no_near_miss(docket: Docket) -> None:
    await docket.add(job, when=docket.clock.now() + timedelta(days=1, seconds=1))()
    await no_warning_from(advance(docket, timedelta(days=1)))


async def test_work_that_ran_in_the_same_call_is_no_near_miss(docket: Docket) -> None:
    # A perpetual task's next run is scheduled from the docket's own clock.
    await docket.add(tick, key="tick")()
    await no_warning_from(advance(docket, timedelta(seconds=1, milliseconds=100)))
    await assert_scheduled(docket, tick, when=docket.clock.now() + timedelta(milliseconds=100))


async def test_a_pending_retry_is_no_near_miss_in_a_later_call(docket: Docket) -> None:
    # The retry's delay was counted from the docket's own clock: no wall clock in it.
    async def shaky(retry: Retry = Retry(attempts=2, delay=timedelta(milliseconds=500))) -> None:
        raise RuntimeError("not yet")

    await docket.add(shaky, key="shaky")()
    await no_warning_from(run_due(docket, raise_errors=False))
    await no_warning_from(run_due(docket))


async def test_there_are_no_near_misses_on_the_system_clock() -> None:
    async with open_docket(clock=SystemClock()) as docket:
        await docket.add(job, when=docket.clock.now() + timedelta(milliseconds=900))()
        await no_warning_from(run_due(docket))


async def test_a_failed_assert_ran_names_matching_work_due_just_after_now(docket: Docket) -> None:
    target = docket.clock.now() + timedelta(days=30)
    await docket.add(job, when=target + timedelta(milliseconds=4), key="remind-ann")("ann")
    with pytest.warns(NearMissWarning):
        await advance(docket, timedelta(days=30))

    with pytest.raises(AssertionError) as failure:
        await assert_ran(docket, job, args=("ann",))
    message = str(failure.value)
    assert "job('ann') key='remind-ann' is due 4 ms after now" in message
    assert WALL_CLOCK_HINT in message


async def test_a_failed_assert_scheduled_names_work_due_just_after_when(docket: Docket) -> None:
    in_30_days = docket.clock.now() + timedelta(days=30)
    await docket.add(job, when=in_30_days + timedelta(milliseconds=7), key="r")("ann")
    with pytest.raises(AssertionError) as failure:
        await assert_scheduled(docket, job, when=in_30_days)
    message = str(failure.value)
    assert "job('ann') key='r' is due 7 ms after the expected time" in message
    assert WALL_CLOCK_HINT in message

    with pytest.raises(AssertionError) as failure:
        await assert_scheduled(docket, job, when=in_30_days - timedelta(days=1))
    assert WALL_CLOCK_HINT not in str(failure.value)


async def test_a_failed_assert_no_tasks_names_work_due_just_after_now(
    docket: Docket, clock: VirtualClock
) -> None:
    await docket.add(job, when=clock.now() + timedelta(milliseconds=2), key="r")()
    with pytest.raises(AssertionError) as failure:
        await assert_no_tasks(docket)
    message = str(failure.value)
    assert "expected no tasks, found 1:" in message
    assert "job() key='r' is due 2 ms after now" in message
    assert WALL_CLOCK_HINT in message
