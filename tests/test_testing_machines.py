"""DocketMachine and machine_test: state machines over a user's own tasks, on memory and real Redis.

The machines here are what a downstream team would write: a task that must
remind each order once, its property as an ``@invariant()``, and a model kept
through the hooks.  A correct task passes on both engines; a task with a real
bug (it forgets a reminder after thirty days) must be found, shrunk to the few
steps that show it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis.asyncio
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from docket import CurrentDocket, Disposition, Docket, Execution, ExecutionState
from docket_testing import TaskFailedInTest
from docket_testing.machine_calls import Delay
from docket_testing.machines import Call, DocketMachine, calls, machine_test
from docket_testing.strategies import delays
from tests import engine_urls

docket_url = engine_urls.docket_url  # memory://, then the suite's real Redis

ORDERS = st.sampled_from([1, 2, 3])
SMALL = settings(max_examples=25, stateful_step_count=15, derandomize=True, database=None)


# -- the application: remind each order once ----------------------------------------

reminded: list[int] = []
last_reminded: dict[int, datetime] = {}
seen: Counter[str] = Counter()
"""What the machines exercised, so a test can show it was not vacuous."""


async def remind_once(order: int, channel: str = "email") -> None:
    # A key is free again once its work ends, so the key alone cannot stop a
    # second reminder: remember who was reminded.
    if order not in reminded:
        reminded.append(order)


async def remind_monthly(order: int, docket: Docket = CurrentDocket()) -> None:
    """The bug: "once" is kept only for thirty days."""
    now = docket.clock.now()
    last = last_reminded.get(order)
    if last is not None and now - last < timedelta(days=30):
        return
    last_reminded[order] = now
    reminded.append(order)


class RemindOnce(DocketMachine):
    """Every order is reminded at most once, and every order whose work ran was reminded."""

    work = calls(remind_once, ORDERS, channel=st.sampled_from(["email", "sms"]))

    async def setup(self) -> None:
        reminded.clear()
        last_reminded.clear()

    def on_add(self, execution: Execution) -> None:
        seen[f"add {execution.disposition.value}"] += 1

    def on_replace(self, execution: Execution) -> None:
        seen["replace"] += 1

    def on_cancel(self, key: str) -> None:
        seen["cancel"] += 1

    def on_runs(self, runs: list[Execution]) -> None:
        seen["runs"] += len(runs)

    def pass_time(self, delta: timedelta) -> None:
        seen["time passes"] += 1
        super().pass_time(delta)

    @invariant()
    def each_order_is_reminded_once(self) -> None:
        assert len(reminded) == len(set(reminded)), f"reminded twice: {reminded}"

    @invariant()
    def every_order_that_ran_was_reminded(self) -> None:
        assert set(reminded) == {run.args[0] for run in self.runs}


class RemindMonthly(RemindOnce):
    work = calls(remind_monthly, ORDERS)
    advances = delays(latest=timedelta(days=40), resolution=timedelta(days=1))


def test_a_correct_task_passes_on_every_engine(docket_url: str) -> None:
    seen.clear()
    machine_test(
        RemindOnce, docket_url, settings=settings(SMALL, max_examples=50, stateful_step_count=20)
    )
    # Not vacuous: keys collided, work was replaced, cancelled and ran.
    assert {"add scheduled", "add already_scheduled", "replace", "cancel", "time passes"} <= set(
        seen
    ), seen
    assert seen["runs"] > 10, seen


INVARIANT_CHECKS = {
    "state.each_order_is_reminded_once()",
    "state.every_order_that_ran_was_reminded()",
}


def test_a_reminder_that_forgets_after_thirty_days_is_found_and_shrunk() -> None:
    with pytest.raises(AssertionError, match="reminded twice") as failure:
        machine_test(
            RemindMonthly,
            "memory://",
            settings=settings(
                max_examples=300, stateful_step_count=20, derandomize=True, database=None
            ),
        )
    steps = [
        line
        for note in getattr(failure.value, "__notes__", [])
        for line in note.splitlines()
        if line.startswith("state.") and line not in INVARIANT_CHECKS
    ]
    # Shrunk to: remind, let thirty days or more go by running what is due, remind again.
    assert len(steps) <= 6, steps
    assert sum(step.startswith("state.add_work(call=remind_monthly(") for step in steps) == 2, steps
    assert any(step.startswith("state.advance_time(delta=timedelta(days=") for step in steps), steps
    assert steps[-1] == "state.teardown()"


def test_the_bug_is_found_on_real_redis(redis_server_url: str) -> None:
    # Only generation: shrinking hundreds of runs on a real server takes a while,
    # and the memory test above shows the shrunk steps.
    quick = settings(
        max_examples=300,
        stateful_step_count=20,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
    )
    with pytest.raises(AssertionError, match="reminded twice"):
        machine_test(RemindMonthly, redis_server_url, settings=quick)


# -- a model kept through the hooks, a rule of one's own, async checks ---------------


class LatestCallRuns(DocketMachine):
    """Each run is the latest call scheduled under its key; cancelled work never runs."""

    work = calls(remind_once, ORDERS)
    keys = ("a", "b")

    async def setup(self) -> None:
        self.pending: dict[str, tuple[Any, ...]] = {}

    def on_add(self, execution: Execution) -> None:
        if execution.disposition is Disposition.SCHEDULED:
            self.pending[execution.key] = execution.args
        else:
            assert execution.disposition is Disposition.ALREADY_SCHEDULED
            assert execution.key in self.pending

    def on_replace(self, execution: Execution) -> None:
        self.pending[execution.key] = execution.args

    def on_cancel(self, key: str) -> None:
        self.pending.pop(key, None)

    def on_runs(self, runs: list[Execution]) -> None:
        seen["model runs"] += len(runs)
        for run in runs:
            assert run.state is ExecutionState.COMPLETED
            assert self.pending.pop(run.key) == run.args, run.key

    @rule(order=ORDERS)
    def place_order(self, order: int) -> None:
        """A rule of the subclass's own, through the same operation as ``add_work``."""
        self.add(Call(remind_once, (order,)), key=f"order-{order}", delay=timedelta(minutes=5))

    @invariant()
    def storage_holds_what_the_model_holds(self) -> None:
        snapshot = self.run(self.docket.snapshot())
        assert sorted(e.key for e in snapshot.future) == sorted(self.pending)


def test_a_model_kept_through_the_hooks(docket_url: str) -> None:
    seen.clear()
    machine_test(LatestCallRuns, docket_url, settings=SMALL)
    assert seen["model runs"] > 10, seen


class OnlyAddAndRun(RemindOnce):
    operations = ("add", "run_due")


def test_operations_choose_the_built_in_rules() -> None:
    seen.clear()
    machine_test(OnlyAddAndRun, "memory://", settings=SMALL)
    assert set(seen) == {"add scheduled", "add already_scheduled", "runs"}, seen


async def explode(order: int) -> None:
    if order == 3:
        raise ValueError(f"order {order} is broken")


class Exploding(DocketMachine):
    work = calls(explode, ORDERS)


class ExplodingQuietly(Exploding):
    raise_errors = False

    @invariant()
    def failures_are_runs(self) -> None:
        for run in self.runs:
            expected = ExecutionState.FAILED if run.args == (3,) else ExecutionState.COMPLETED
            assert run.state is expected


def test_a_failing_task_fails_the_step_unless_told_otherwise() -> None:
    with pytest.raises(TaskFailedInTest, match=r"explode\(3\).*order 3 is broken"):
        machine_test(Exploding, "memory://", settings=SMALL)
    machine_test(ExplodingQuietly, "memory://", settings=SMALL)


# -- each run gets its own loop and docket, and leaves nothing behind ---------------

loops: list[asyncio.AbstractEventLoop] = []
names: list[str] = []


class Tidy(DocketMachine):
    work = calls(remind_once, ORDERS)

    async def setup(self) -> None:
        loops.append(asyncio.get_running_loop())
        names.append(self.docket.name)


def test_every_run_closes_its_loop_and_deletes_its_storage(redis_server_url: str) -> None:
    loops.clear()
    names.clear()
    machine_test(Tidy, redis_server_url, settings=SMALL)
    assert len(set(names)) == len(names) == len(loops) > 1
    assert all(loop.is_closed() for loop in loops)

    async def leftovers() -> list[Any]:
        async with redis.asyncio.Redis.from_url(redis_server_url) as client:
            found = []
            for name in names:
                found += await client.keys(f"*{name}*")
            return found

    assert asyncio.run(leftovers()) == []


def test_the_class_runs_alone_on_its_own_engine() -> None:
    names.clear()

    @settings(max_examples=3, stateful_step_count=3, database=None, deadline=None)
    class OnMemory(Tidy):
        docket_url = "memory://"

    OnMemory.TestCase().runTest()
    assert len(names) == 3


# -- calls ------------------------------------------------------------------------


def test_a_call_shows_as_the_call_it_is() -> None:
    assert repr(Call(remind_once, (1,), {"channel": "sms"})) == "remind_once(1, channel='sms')"
    assert repr(Call("remind_once")) == "remind_once()"


def test_a_delay_shows_as_the_timedelta_it_is() -> None:
    assert repr(Delay(days=16)) == "timedelta(days=16)"
    assert repr(Delay(seconds=-1)) == "-timedelta(seconds=1)"
    assert Delay(minutes=5) == timedelta(minutes=5)


@settings(max_examples=10, database=None)
@given(calls(remind_once, ORDERS, channel=st.just("sms"), later=True))
def test_calls_draw_arguments_in_the_order_written(call: Call) -> None:
    assert call.function is remind_once
    assert call.args[0] in (1, 2, 3)
    assert list(call.kwargs.items()) == [("channel", "sms"), ("later", True)]


# -- bad input ----------------------------------------------------------------------


def test_bad_class_attributes_are_named_where_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"BadWork\.work must be a Hypothesis strategy.*remind"):

        class BadWork(DocketMachine):
            work = remind_once  # type: ignore[assignment]

    with pytest.raises(ValueError, match=r"BadKeys\.keys must be a non-empty sequence.*\(\)"):

        class BadKeys(DocketMachine):
            keys = ()

    with pytest.raises(ValueError, match="pool must hold non-empty strings"):

        class EmptyKey(DocketMachine):
            keys = ("a", "")

    with pytest.raises(ValueError, match=r"BadOperations\.operations must name.*'sleep'"):

        class BadOperations(DocketMachine):
            operations = ("add", "sleep")

    with pytest.raises(TypeError, match=r"BadWhen\.when must be a Hypothesis strategy"):

        class BadWhen(DocketMachine):
            when = timedelta(seconds=1)  # type: ignore[assignment]

    with pytest.raises(ValueError, match="BadURL.docket_url"):

        class BadURL(DocketMachine):
            docket_url = "postgres://nope"


def test_a_machine_without_work_says_so() -> None:
    class NoWork(DocketMachine):
        pass

    with pytest.raises(TypeError, match=r"NoWork\.work must be set"):
        NoWork()


def test_bad_arguments_to_machine_test_are_named() -> None:
    with pytest.raises(TypeError, match="machine must be a subclass of DocketMachine"):
        machine_test(object, "memory://")  # type: ignore[type-var]
    with pytest.raises(ValueError, match="docket_url"):
        machine_test(Tidy, "postgres://nope")
    with pytest.raises(TypeError, match="docket_url must be a URL string, got None"):
        machine_test(Tidy, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="settings must be a hypothesis.settings"):
        machine_test(Tidy, "memory://", settings={"max_examples": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="function must be a callable or a task name, got 7"):
        calls(7)  # type: ignore[arg-type]


async def test_a_machine_cannot_run_inside_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="plain \\(not async\\) test function"):
        machine_test(Tidy, "memory://", settings=SMALL)
    with pytest.raises(RuntimeError, match=r"Tidy\(\) runs its own event loop"):
        Tidy()
