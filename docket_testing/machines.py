"""Hypothesis state machines over a user's own tasks: ``DocketMachine`` and ``machine_test``.

``DocketMachine`` is a ``RuleBasedStateMachine`` that owns one docket (on
any engine, driven by a ``VirtualClock``) and one event loop per run, and
comes with rules that add, replace and cancel the user's work under a small
pool of keys (so operations collide), move virtual time with ``advance``,
let time pass with no worker, and run due work.  A subclass names its work
(``work = calls(remind, order=st.sampled_from([1, 2, 3]))``) and states its
properties with ``@invariant()``; hooks (``on_add``, ``on_replace``,
``on_cancel``, ``on_runs``) keep a model of what should have happened.

Rules of a state machine are synchronous, so the machine runs every docket
call on its own loop (``self.run(awaitable)``), opened in ``__init__`` and
closed in ``teardown``.  A machine cannot take pytest fixtures; a normal
test function that receives ``docket_url`` runs it with
``machine_test(Machine, docket_url)``.

Requires Hypothesis (``pip install hypothesis``), like ``docket_testing.strategies``.
"""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import Awaitable, Collection, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

from hypothesis import Phase
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from docket import Docket, Execution, VirtualClock
from docket.engines import check_url
from docket_testing.dockets import open_docket
from docket_testing.helpers import advance, run_due
from docket_testing.machine_calls import Call, calls, shown_as_code
from docket_testing.near_miss import NearMissWarning
from docket_testing.strategies import delays, task_keys

__all__ = ["OPERATIONS", "Call", "DocketMachine", "calls", "machine_test"]

T = TypeVar("T")
M = TypeVar("M", bound="DocketMachine")

OPERATIONS = ("add", "replace", "cancel", "advance", "pass_time", "run_due")
"""The built-in rules a ``DocketMachine`` can have (see ``DocketMachine.operations``)."""


class DocketMachine(RuleBasedStateMachine):
    """A state machine over one docket running the subclass's ``work``.

    Subclasses set ``work`` (a strategy of ``Call``, see ``calls``) and may
    set ``keys``, ``when``, ``advances``, ``operations``, ``docket_url``,
    ``docket_options`` and ``raise_errors``.  Each run of the machine (one
    Hypothesis example) gets its own event loop and its own uniquely named
    docket on ``docket_url`` driven by ``self.clock``; ``teardown`` deletes
    its storage and closes the loop.

    The built-in rules, each there if its operation (in brackets) is in ``operations``:

    * ``add_work`` (add): ``docket.add(call, when=now + delay, key=key)``, the
      key drawn from ``keys`` or left out (a fresh key);
    * ``replace_work`` (replace): ``docket.replace`` under a key from ``keys``;
    * ``cancel_work`` (cancel): ``docket.cancel`` of a key from ``keys``;
    * ``advance_time`` (advance): ``advance(docket, delta)``, running what
      comes due on the way;
    * ``time_passes`` (pass_time): the clock moves with no worker running, so
      due work piles up for the next run;
    * ``run_due_work`` (run_due): ``run_due(docket)``.

    State for the subclass's properties: ``self.docket``, ``self.clock``,
    ``self.runs`` (every run so far, in order) and the hooks.  Set up state
    of your own in ``setup`` (called once per run, after the docket opens),
    and call async code from rules and invariants with ``self.run``.  With
    ``raise_errors`` (the default) a task's final failure fails the step
    with ``TaskFailedInTest``.
    """

    work: ClassVar[st.SearchStrategy[Call] | None] = None
    """The calls the rules schedule: ``calls(task, ...)`` (required)."""
    keys: ClassVar[tuple[str, ...]] = ("a", "b", "c")
    """The key pool: small, so that adds, replaces and cancels meet on the same key."""
    when: ClassVar[st.SearchStrategy[timedelta]] = delays(
        earliest=timedelta(seconds=-1), latest=timedelta(hours=1), resolution=timedelta(seconds=1)
    )
    """When scheduled work is due, relative to now (negative: already due)."""
    advances: ClassVar[st.SearchStrategy[timedelta]] = delays(
        latest=timedelta(hours=1), resolution=timedelta(seconds=1)
    )
    """How far ``advance_time`` and ``time_passes`` move the clock."""
    operations: ClassVar[Collection[str]] = OPERATIONS
    """Which built-in rules the machine has (a subset of ``OPERATIONS``)."""
    docket_url: ClassVar[str] = "memory://"
    """The engine, unless ``__init__`` (``machine_test``) is given one."""
    docket_options: ClassVar[Mapping[str, Any]] = {}
    """Keyword arguments for ``Docket`` (``execution_ttl=...``, say)."""
    raise_errors: ClassVar[bool] = True
    """Whether a task's final failure fails the step (else it is in ``self.runs``)."""

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__(**options)
        _check_class(cls)
        if cls.work is not None:
            _build_rules(cls)

    def __init__(self, docket_url: str | None = None) -> None:
        """Open this run's loop and docket on ``docket_url`` (default: the class's)."""
        if self.work is None:
            raise TypeError(
                f"{type(self).__name__}.work must be set to a strategy of calls, "
                f"e.g. work = calls(my_task, st.integers()); got None"
            )
        super().__init__()
        url = check_url(
            docket_url if docket_url is not None else self.docket_url, label="docket_url"
        )
        _outside_a_running_loop(f"{type(self).__name__}()")
        self.runs: list[Execution] = []
        """Every run so far, in the order the runs ended (see ``run_due``)."""
        self.clock = VirtualClock()
        self.loop = asyncio.new_event_loop()
        self._exits = AsyncExitStack()
        try:
            self.docket: Docket = self.run(
                self._exits.enter_async_context(
                    open_docket(url, clock=self.clock, **dict(self.docket_options))
                )
            )
            self.run(self.setup())
        except BaseException:
            self._close()
            raise

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` to completion on this machine's loop and return its result."""

        async def wait() -> T:
            return await awaitable

        return self.loop.run_until_complete(wait())

    def teardown(self) -> None:
        """Close and discard the docket, then close the loop (Hypothesis calls it after each run)."""
        self._close()

    def _close(self) -> None:
        try:
            self.run(self._exits.aclose())
        finally:
            try:
                self.run(_finish_loop())
            finally:
                self.loop.close()

    # -- hooks: override to keep a model ----------------------------------------

    async def setup(self) -> None:
        """Called once per run after the docket opens: reset the application's state here."""

    def on_add(self, execution: Execution) -> None:
        """Called after each ``add`` with its ``Execution`` (see ``disposition``)."""

    def on_replace(self, execution: Execution) -> None:
        """Called after each ``replace`` with its ``Execution``."""

    def on_cancel(self, key: str) -> None:
        """Called after each ``cancel`` of ``key``."""

    def on_runs(self, runs: list[Execution]) -> None:
        """Called after ``run_due``/``advance`` with the runs they made, in order (maybe none)."""

    # -- operations, for the built-in rules and the subclass's own ---------------

    def add(
        self, call: Call, *, key: str | None = None, delay: timedelta = timedelta(0)
    ) -> Execution:
        """``docket.add`` of ``call`` due ``delay`` from now under ``key``; calls ``on_add``."""
        when = self.clock.now() + delay
        execution = self.run(
            self.docket.add(call.function, when=when, key=key)(*call.args, **call.kwargs)
        )
        self.on_add(execution)
        return execution

    def replace(self, call: Call, *, key: str, delay: timedelta = timedelta(0)) -> Execution:
        """``docket.replace`` of the work under ``key`` with ``call``; calls ``on_replace``."""
        when = self.clock.now() + delay
        execution = self.run(
            self.docket.replace(call.function, when=when, key=key)(*call.args, **call.kwargs)
        )
        self.on_replace(execution)
        return execution

    def cancel(self, key: str) -> None:
        """``docket.cancel(key)``; calls ``on_cancel``."""
        self.run(self.docket.cancel(key))
        self.on_cancel(key)

    def advance(self, delta: timedelta) -> list[Execution]:
        """``advance(docket, delta)``: move the clock, running what comes due; calls ``on_runs``."""
        with _stops_anywhere():
            return self._ran(self.run(advance(self.docket, delta, raise_errors=self.raise_errors)))

    def run_due(self) -> list[Execution]:
        """``run_due(docket)``: run what is due now; calls ``on_runs``."""
        with _stops_anywhere():
            return self._ran(self.run(run_due(self.docket, raise_errors=self.raise_errors)))

    def pass_time(self, delta: timedelta) -> None:
        """Move the clock ``delta`` with no worker running: due work waits for a run."""
        self.clock.advance(delta)

    def _ran(self, runs: list[Execution]) -> list[Execution]:
        self.runs.extend(runs)
        self.on_runs(runs)
        return runs


async def _finish_loop() -> None:
    """Cancel what the run left behind (a connection's reader, say) and close async generators."""
    current = asyncio.current_task()
    leftover = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftover:
        task.cancel()
    await asyncio.gather(*leftover, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


def _outside_a_running_loop(what: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{what} runs its own event loop and cannot run inside another; "
        f"call it from a plain (not async) test function"
    )


def _check_class(cls: type[DocketMachine]) -> None:
    """Reject bad class attributes where the class is defined, naming each."""
    name = cls.__name__
    for attribute in ("work", "when", "advances"):
        value = getattr(cls, attribute)
        if not isinstance(value, st.SearchStrategy) and not (attribute == "work" and value is None):
            raise TypeError(f"{name}.{attribute} must be a Hypothesis strategy, got {value!r}")
    if isinstance(cls.keys, str) or not cls.keys:
        raise ValueError(f"{name}.keys must be a non-empty sequence of keys, got {cls.keys!r}")
    task_keys(pool=cls.keys)  # raises a ValueError naming the pool if a key is not a string
    unknown = sorted(set(cls.operations) - set(OPERATIONS))
    if isinstance(cls.operations, str) or unknown:
        raise ValueError(
            f"{name}.operations must name some of {OPERATIONS}, got {cls.operations!r}"
        )
    check_url(cls.docket_url, label=f"{name}.docket_url")


def _build_rules(cls: type[DocketMachine]) -> None:
    """Give ``cls`` the built-in rules, drawing from its own strategies.

    ``@rule`` takes its strategies when the rule is defined, and a subclass's
    ``work``, ``keys``, ``when`` and ``advances`` exist only once the subclass
    does, so each subclass gets rules of its own.  A rule the subclass defines
    itself under the same name is left alone.
    """
    keys = task_keys(pool=cls.keys)
    work = cls.work
    assert work is not None
    when, advances = shown_as_code(cls.when), shown_as_code(cls.advances)

    @rule(call=work, key=st.none() | keys, delay=when)
    def add_work(self: DocketMachine, call: Call, key: str | None, delay: timedelta) -> None:
        self.add(call, key=key, delay=delay)

    @rule(call=work, key=keys, delay=when)
    def replace_work(self: DocketMachine, call: Call, key: str, delay: timedelta) -> None:
        self.replace(call, key=key, delay=delay)

    @rule(key=keys)
    def cancel_work(self: DocketMachine, key: str) -> None:
        self.cancel(key)

    @rule(delta=advances)
    def advance_time(self: DocketMachine, delta: timedelta) -> None:
        self.advance(delta)

    @rule(delta=advances)
    def time_passes(self: DocketMachine, delta: timedelta) -> None:
        self.pass_time(delta)

    @rule()
    def run_due_work(self: DocketMachine) -> None:
        self.run_due()

    built = {
        "add": add_work,
        "replace": replace_work,
        "cancel": cancel_work,
        "advance": advance_time,
        "pass_time": time_passes,
        "run_due": run_due_work,
    }
    for operation, function in built.items():
        name = function.__name__
        if name in vars(cls):
            continue
        # An operation left out must hide the rule a parent class may have.
        setattr(cls, name, function if operation in cls.operations else None)


def machine_test(machine: type[M], docket_url: str, *, settings: Settings | None = None) -> None:
    """Run the state machine class ``machine`` as a test, on the engine at ``docket_url``.

    Call it from a plain (not async) test function that receives the
    ``docket_url`` fixture, so the machine runs on ``--docket-url``'s engine::

        def test_remind_once(docket_url: str) -> None:
            machine_test(RemindOnce, docket_url)

    ``settings`` defaults to the class's own (``@settings(...)`` on it).
    Two of Hypothesis's defaults are turned off: the ``deadline``, which
    would time each whole run of many steps (a run on a real Redis takes a
    while), and the explain phase, which traces every line docket runs and
    would take minutes to report a failure the shrunk steps already show.
    A failure raises the failing step's error after Hypothesis has shrunk
    it, with the steps that led there printed.
    """
    if not (isinstance(machine, type) and issubclass(machine, DocketMachine)):
        raise TypeError(f"machine must be a subclass of DocketMachine, got {machine!r}")
    if not isinstance(docket_url, str):
        raise TypeError(f"docket_url must be a URL string, got {docket_url!r}")
    check_url(docket_url, label="docket_url")
    if settings is not None and not isinstance(settings, Settings):
        raise TypeError(f"settings must be a hypothesis.settings, got {settings!r}")
    _outside_a_running_loop("machine_test")
    chosen = settings if settings is not None else machine.TestCase.settings

    def factory() -> M:
        return machine(docket_url)

    # Hypothesis keys its example database by the factory's source: pointing
    # it at the class keeps one machine's saved failures apart from another's.
    functools.update_wrapper(
        factory, machine, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=()
    )
    phases = [phase for phase in chosen.phases if phase is not Phase.explain]
    unhurried = Settings(chosen, deadline=None, phases=phases)
    run_state_machine_as_test(factory, settings=unhurried)  # type: ignore[arg-type]


@contextmanager
def _stops_anywhere() -> Iterator[None]:
    """A machine stops time at arbitrary instants on purpose: work due just
    after one is what it explores, not a near miss to warn about."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NearMissWarning)
        yield
