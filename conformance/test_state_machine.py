"""A Hypothesis state machine checks each engine against a reference model of scheduling.

Rules add, replace and cancel work under a small pool of keys (so they
collide), move the ``VirtualClock`` (by itself, or with ``advance`` running
what comes due on the way) and run due work.  ``Model`` is the whole of the
scheduling semantics in a few lines of plain Python:

* a key is live from ``add`` until its work ends; ``add`` on a live key is
  ALREADY_SCHEDULED and changes nothing, otherwise SCHEDULED;
* ``replace`` always schedules, swapping out whatever the key held;
* ``cancel`` removes scheduled or queued work (the record says CANCELLED);
* due work (``when <= now``) runs in ``(when, order scheduled)`` order, at the
  virtual time it is run; ``advance`` stops at every due time on the way;
* a retried run comes back ``RETRY_DELAY`` later with the next attempt; a
  perpetual task comes back ``EVERY`` after it ran, with attempt 1.

After every step the docket's snapshot must list exactly the model's pending
work (key, task, arguments, when, attempt) in the same order, each key's
record must be in the model's state, and every run so far (task, key,
arguments, attempt, virtual time) must match the model's, in order.

It runs on every target with a VirtualClock: the memory twin, the Redis engine
on a real server, and the Redis engine on fakeredis.  Each example gets its own
event loop, docket and connections, opened in ``__init__`` and closed in
``teardown``.  The settings profile ``state-machine-ci`` (used when CI=true)
runs more examples than ``state-machine-dev``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from conformance.conftest import in_ci, virtual_engine_params, virtual_engine_url
from docket import (
    CurrentDocket,
    CurrentExecution,
    Disposition,
    Docket,
    Execution,
    ExecutionState,
    Retry,
    VirtualClock,
)
from docket.dependencies import Perpetual
from docket_testing import advance, run_due
from docket_testing.dockets import discard, docket_location, unique_docket_name
from docket_testing.strategies import JSON, delays, json_values, task_keys

T = TypeVar("T")

settings.register_profile(
    "state-machine-dev",
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "state-machine-ci",
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

RETRY_ATTEMPTS = 3
RETRY_DELAY = timedelta(seconds=10)
EVERY = timedelta(seconds=30)
KEYS = ("a", "b", "c", "d")
RECORDS_KEPT = timedelta(days=365)
"""``execution_ttl`` of the machine's dockets: longer than any example, so records stay readable."""

# -- the tasks ----------------------------------------------------------------

Ran = tuple[str, str, tuple[Any, ...], int, datetime]
"""(task, key, arguments, attempt, virtual time at the run)."""

RAN: dict[str, list[Ran]] = {}
"""Runs by docket name, as the tasks saw them."""


def record(docket: Docket, execution: Execution, task: str, *args: Any) -> None:
    RAN[docket.name].append((task, execution.key, args, execution.attempt, docket.clock.now()))


async def plain(
    payload: JSON,
    docket: Docket = CurrentDocket(),
    execution: Execution = CurrentExecution(),
) -> None:
    record(docket, execution, "plain", payload)


async def flaky(
    payload: JSON,
    failures: int,
    retry: Retry = Retry(attempts=RETRY_ATTEMPTS, delay=RETRY_DELAY),
    docket: Docket = CurrentDocket(),
    execution: Execution = CurrentExecution(),
) -> None:
    record(docket, execution, "flaky", payload, failures)
    if execution.attempt <= failures:
        raise RuntimeError(f"failing attempt {execution.attempt} of {failures}")


async def perpetual(
    payload: JSON,
    again: Perpetual = Perpetual(every=EVERY),
    docket: Docket = CurrentDocket(),
    execution: Execution = CurrentExecution(),
) -> None:
    record(docket, execution, "perpetual", payload)


TASKS = {"plain": plain, "flaky": flaky, "perpetual": perpetual}

TASK_NAMES = st.sampled_from(sorted(TASKS))
PAYLOADS = json_values(max_leaves=3)
FAILURES = st.integers(min_value=0, max_value=RETRY_ATTEMPTS)
WHEN = delays(
    earliest=timedelta(seconds=-5),
    latest=timedelta(seconds=90),
    resolution=timedelta(milliseconds=500),
)
"""Due times relative to now: a little in the past to 90 s ahead, on half seconds (ties)."""

# -- the reference model ----------------------------------------------------------


@dataclass
class Pending:
    """Work the model holds under a key."""

    task: str
    args: tuple[Any, ...]
    when: datetime
    attempt: int
    order: int


class Model:
    """What should have happened: pending work, record states, and every run."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.pending: dict[str, Pending] = {}
        self.states: dict[str, ExecutionState] = {}
        self.ran: list[Ran] = []
        self._order = itertools.count()

    def schedule(
        self, key: str, task: str, args: tuple[Any, ...], when: datetime, *, replace: bool
    ) -> Disposition:
        if key in self.pending and not replace:
            return Disposition.ALREADY_SCHEDULED
        self.pending[key] = Pending(task, args, when, 1, next(self._order))
        self.states[key] = ExecutionState.SCHEDULED
        return Disposition.SCHEDULED

    def cancel(self, key: str) -> None:
        if self.pending.pop(key, None) is not None:
            self.states[key] = ExecutionState.CANCELLED

    def run_due(self) -> list[tuple[str, ExecutionState]]:
        """Run what is due now, in order; return (key, how each run ended)."""
        outcomes = []
        while True:
            due = [(p.when, p.order, key) for key, p in self.pending.items() if p.when <= self.now]
            if not due:
                return outcomes
            _, _, key = min(due)
            outcomes.append((key, self._run(key)))

    def advance(self, delta: timedelta) -> list[tuple[str, ExecutionState]]:
        target = self.now + delta
        outcomes = self.run_due()
        while self.pending:
            upcoming = min(p.when for p in self.pending.values())
            if upcoming > target:
                break
            self.now = upcoming
            outcomes += self.run_due()
        self.now = target
        return outcomes + self.run_due()

    def _run(self, key: str) -> ExecutionState:
        work = self.pending[key]
        self.ran.append((work.task, key, work.args, work.attempt, self.now))
        if work.task == "flaky" and work.attempt <= work.args[1]:
            if work.attempt < RETRY_ATTEMPTS:
                work.when, work.attempt = self.now + RETRY_DELAY, work.attempt + 1
                work.order = next(self._order)
                return ExecutionState.QUEUED
            del self.pending[key]
            self.states[key] = ExecutionState.FAILED
            return ExecutionState.FAILED
        if work.task == "perpetual":
            work.when, work.attempt, work.order = self.now + EVERY, 1, next(self._order)
            return ExecutionState.COMPLETED
        del self.pending[key]
        self.states[key] = ExecutionState.COMPLETED
        return ExecutionState.COMPLETED

    def expected_pending(self) -> list[tuple[str, str, tuple[Any, ...], datetime, int]]:
        ordered = sorted(self.pending.items(), key=lambda item: (item[1].when, item[1].order))
        return [(key, p.task, p.args, p.when, p.attempt) for key, p in ordered]


def note_outcomes(outcomes: list[tuple[str, ExecutionState]]) -> None:
    """Tell Hypothesis's statistics which kinds of run a step saw."""
    event(f"runs in one step: {min(len(outcomes), 5)}{'+' if len(outcomes) >= 5 else ''}")
    for state in sorted({state.value for _, state in outcomes}):
        event(f"a run ended {state}")


# -- the machine ------------------------------------------------------------------


class SchedulingMachine(RuleBasedStateMachine):
    """One docket on one engine, driven by rules and compared with ``Model`` after each."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = VirtualClock()
        name = unique_docket_name()
        self.docket = Docket(
            name=name,
            url=docket_location(url, name),
            clock=self.clock,
            execution_ttl=RECORDS_KEPT,
        )
        RAN[name] = []
        self.model = Model(self.clock.now())
        self.keys: set[str] = set()
        self.run(self.docket.__aenter__())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        try:
            self.run(self.docket.__aexit__(None, None, None))
            self.run(discard(self.docket))
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()
            RAN.pop(self.docket.name, None)

    # -- rules --------------------------------------------------------------

    def _arguments(self, task: str, payload: JSON, failures: int) -> tuple[Any, ...]:
        return (payload, failures) if task == "flaky" else (payload,)

    @initialize(
        work=st.lists(
            st.tuples(st.none() | task_keys(pool=KEYS), TASK_NAMES, PAYLOADS, FAILURES, WHEN),
            max_size=6,
        )
    )
    def schedule_some_work(self, work: list[tuple[str | None, str, JSON, int, timedelta]]) -> None:
        """Start with some work, so that even an example of one repeated rule does something."""
        for key, task, payload, failures, delay in work:
            self.add(key, task, payload, failures, delay)

    @rule(
        key=st.none() | task_keys(pool=KEYS),
        task=TASK_NAMES,
        payload=PAYLOADS,
        failures=FAILURES,
        delay=WHEN,
    )
    def add(
        self, key: str | None, task: str, payload: JSON, failures: int, delay: timedelta
    ) -> None:
        args = self._arguments(task, payload, failures)
        when = self.clock.now() + delay
        execution = self.run(self.docket.add(TASKS[task], when=when, key=key)(*args))
        self.keys.add(execution.key)
        expected = self.model.schedule(execution.key, task, args, when, replace=False)
        event(f"add: {expected.value}")
        assert execution.disposition is expected
        held = self.model.pending[execution.key]
        assert (execution.function_name, execution.args, execution.when) == (
            held.task,
            held.args,
            held.when,
        )

    @rule(
        key=task_keys(pool=KEYS), task=TASK_NAMES, payload=PAYLOADS, failures=FAILURES, delay=WHEN
    )
    def replace(self, key: str, task: str, payload: JSON, failures: int, delay: timedelta) -> None:
        args = self._arguments(task, payload, failures)
        when = self.clock.now() + delay
        execution = self.run(self.docket.replace(TASKS[task], when=when, key=key)(*args))
        self.keys.add(key)
        assert self.model.schedule(key, task, args, when, replace=True) is Disposition.SCHEDULED
        assert execution.disposition is Disposition.SCHEDULED
        assert (execution.key, execution.when, execution.args) == (key, when, args)

    @rule(key=task_keys(pool=KEYS))
    def cancel(self, key: str) -> None:
        event(f"cancel: {'live' if key in self.model.pending else 'not live'}")
        self.run(self.docket.cancel(key))
        self.model.cancel(key)

    @rule(delta=delays(latest=timedelta(seconds=60), resolution=timedelta(milliseconds=500)))
    def move_the_clock(self, delta: timedelta) -> None:
        """Time passes with no worker running; due work waits for ``run_due``."""
        self.clock.advance(delta)
        self.model.now += delta

    @rule()
    def run_due_work(self) -> None:
        executions = self.run(run_due(self.docket, raise_errors=False))
        expected = self.model.run_due()
        assert [(e.key, e.state) for e in executions] == expected
        note_outcomes(expected)

    @rule(delta=delays(latest=timedelta(seconds=90), resolution=timedelta(milliseconds=500)))
    def advance_running_work(self, delta: timedelta) -> None:
        executions = self.run(advance(self.docket, delta, raise_errors=False))
        expected = self.model.advance(delta)
        assert [(e.key, e.state) for e in executions] == expected
        note_outcomes(expected)
        assert self.clock.now() == self.model.now

    # -- checks -------------------------------------------------------------

    @invariant()
    def storage_matches_the_model(self) -> None:
        snapshot = self.run(self.docket.snapshot())
        assert snapshot.running == []
        actual = [(e.key, e.function_name, e.args, e.when, e.attempt) for e in snapshot.future]
        assert actual == self.model.expected_pending()

    @invariant()
    def records_match_the_model(self) -> None:
        for key in sorted(self.keys):
            execution = self.run(self.docket.get_execution(key))
            assert execution is not None, f"the record of {key!r} vanished"
            pending = self.model.pending.get(key)
            if pending is None:
                assert execution.state is self.model.states[key], key
            elif pending.when > self.model.now:
                assert execution.state is ExecutionState.SCHEDULED, key
            else:
                # Due but not yet run: queued, or still scheduled until a worker promotes it.
                assert execution.state in (ExecutionState.SCHEDULED, ExecutionState.QUEUED), key

    @invariant()
    def runs_match_the_model(self) -> None:
        assert RAN[self.docket.name] == self.model.ran


# -- one test per engine target -------------------------------------------------------


@pytest.fixture(params=virtual_engine_params())
def engine_url(request: pytest.FixtureRequest) -> str:
    """The URL of each engine target that runs here on a VirtualClock."""
    return virtual_engine_url(request, "state-machine")


# The model stops time anywhere on purpose: work due just after is no near miss.
@pytest.mark.filterwarnings("ignore::docket_testing.NearMissWarning")
def test_engine_matches_the_scheduling_model(engine_url: str) -> None:
    profile = settings.get_profile("state-machine-ci" if in_ci() else "state-machine-dev")
    run_state_machine_as_test(lambda: SchedulingMachine(engine_url), settings=profile)
