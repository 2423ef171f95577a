"""Running due work inline and moving virtual time, through the real worker path.

``run_due`` runs everything due at the docket clock's now with a real
``Worker`` (dependencies, retries, state records and all), so what a test
sees is what production does.  ``advance`` moves a ``VirtualClock`` forward
one due time at a time, running the work due at each, so retries with delays,
perpetual chains and cron schedules unfold in order, in milliseconds.

Both record every run they drive in the docket's run history
(``docket_testing.history``), and both warn ``NearMissWarning`` when they
return with work due just after the clock's now (``docket_testing.near_miss``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from docket import Docket, Execution, ExecutionState, VirtualClock, Worker
from docket.engines.records import ExecutionRecord
from docket_testing.history import describe_call, record_run
from docket_testing.near_miss import warn_near_misses

__all__ = ["DEFAULT_MAX_RUNS", "RunawayWork", "TaskFailedInTest", "advance", "run_due"]

DEFAULT_MAX_RUNS = 1000
"""How many runs ``run_due`` allows at one instant before it calls the work a runaway."""


class TaskFailedInTest(AssertionError):
    """A task run by ``run_due`` or ``advance`` failed for good.

    The task's own exception is the ``__cause__``, so pytest shows its
    traceback.  ``execution`` is the failed run; ``failures`` every run that
    failed for good in the same ``run_due`` call, in the order they ended.
    """

    def __init__(self, message: str, execution: Execution, failures: list[Execution]) -> None:
        super().__init__(message)
        self.execution = execution
        self.failures = failures


class RunawayWork(AssertionError):
    """``run_due`` ran more than ``max_runs`` executions without time moving.

    Work that keeps scheduling work for the same instant (a
    ``Perpetual(every=0)``, say) would otherwise never let the test end.
    """


async def run_due(
    docket: Docket,
    *,
    raise_errors: bool = True,
    worker: Worker | None = None,
    max_runs: int = DEFAULT_MAX_RUNS,
) -> list[Execution]:
    """Run, inline and in due order, everything due at the clock's now.

    Work that these runs schedule for now (or earlier) runs too: a retry
    without delay, a perpetual task's next run if it is already due.  Time
    does not move.  Returns one ``Execution`` per run, in the order the runs
    ended (with the default worker, that is the due order: ``when``, ties in
    the order scheduled).  Each shows how its run ended: ``COMPLETED``,
    ``FAILED`` or ``CANCELLED``, or ``QUEUED`` for a run that failed and was
    retried (its retry is a later run).

    A task's final failure raises ``TaskFailedInTest`` from the task's own
    exception, after every due run has ended, unless ``raise_errors`` is
    False.  ``worker`` supplies a configured worker (worker dependencies,
    ``concurrency``); by default a fresh one-at-a-time worker is used.  More
    than ``max_runs`` runs raise ``RunawayWork``.

    Every run is added to the docket's run history (``run_history``).  On a
    ``VirtualClock``, work left due less than a second after now warns
    ``NearMissWarning``.
    """
    __tracebackhide__ = True
    _check_max_runs(max_runs)
    executions = await _run_due(docket, raise_errors, worker, max_runs)
    await warn_near_misses(docket, ran={e.key for e in executions}, helper="run_due", stacklevel=2)
    return executions


def _check_max_runs(max_runs: int) -> None:
    if not isinstance(max_runs, int) or isinstance(max_runs, bool) or max_runs < 1:
        raise ValueError(f"max_runs must be a positive integer, got {max_runs!r}")


async def _run_due(
    docket: Docket,
    raise_errors: bool,
    worker: Worker | None,
    max_runs: int,
    until: datetime | None = None,
) -> list[Execution]:
    """``run_due`` without the near-miss check, which only its caller's end needs.

    With ``until``, the worker goes on through every due time up to it
    (``Worker.run_until_idle(until=...)``); a final failure stops it at the
    failure's instant, once the rest of the work due there has run.
    """
    __tracebackhide__ = True
    runner = worker if worker is not None else Worker(docket, concurrency=1)
    runs: list[tuple[Execution, ExecutionState, BaseException | None]] = []
    runaway = failing = False
    instant: datetime | None = None
    at_instant = 0

    def observe(execution: Execution, state: ExecutionState, error: BaseException | None) -> None:
        nonlocal runaway, failing, instant, at_instant
        runs.append((execution, state, error))
        record_run(docket, execution, state, error)
        now = docket.clock.now()
        if now != instant:
            instant, at_instant = now, 0
        at_instant += 1
        if at_instant > max_runs and not runaway:
            runaway = True
            runner.stop()
        if until is not None and raise_errors and state is ExecutionState.FAILED:
            # Time stops at the failure: what else is due there still runs.
            failing = True
            runner.stop()

    try:
        with runner.observe(observe):
            await runner.run_until_idle(until=until)
            if failing and not runaway and runner.entered:
                runner.resume()
                await runner.run_until_idle()
    finally:
        if (runaway or failing) and runner.entered:
            # We stopped it only to end this call; the caller's worker lives on.
            runner.resume()
    if runaway:
        raise RunawayWork(_runaway_message(docket, runs, max_runs))

    # One read per key: every run has ended, so each key's record is what it
    # will be for all of its runs (a year of an hourly task is one key).
    records: dict[str, ExecutionRecord | None] = {}
    for execution, state, error in runs:
        await _show_outcome(docket, execution, state, error, records)
    failed = [(e, error) for e, state, error in runs if state is ExecutionState.FAILED]
    if raise_errors and failed:
        execution, error = failed[0]
        reason = (
            f"{type(error).__name__}: {error}" if error is not None else (execution.error or "?")
        )
        message = f"task {describe_call(execution)} failed: {reason}"
        if len(failed) > 1:
            message += (
                f" (and {len(failed) - 1} more: "
                + ", ".join(describe_call(e) for e, _ in failed[1:])
                + ")"
            )
        raise TaskFailedInTest(message, execution, [e for e, _ in failed]) from error
    return [execution for execution, _, _ in runs]


async def _show_outcome(
    docket: Docket,
    execution: Execution,
    state: ExecutionState,
    error: BaseException | None,
    records: dict[str, ExecutionRecord | None],
) -> None:
    """Make ``execution`` show how its own run ended (not what came after it).

    ``records`` keeps the records read so far, by key.
    """
    if state.is_terminal:
        key = execution.key
        if key in records:
            record = records[key]
        else:
            record = records[key] = await docket.engine.get_record(key, docket.clock.now())
        # A later generation (the next perpetual run, a replacement) is not
        # this run: its record says nothing about how this run ended.
        if record is not None and record.generation == execution.generation:
            execution.apply_record(record)
            return
    execution.state = state
    if error is not None:
        execution.error = f"{type(error).__name__}: {error}"


def _runaway_message(
    docket: Docket,
    runs: list[tuple[Execution, ExecutionState, BaseException | None]],
    max_runs: int,
) -> str:
    counts = Counter(describe_call(execution) for execution, _, _ in runs)
    busiest = ", ".join(f"{call} ×{n}" for call, n in counts.most_common(3))
    return (
        f"run_due ran more than {max_runs} executions at {docket.clock.now().isoformat()} "
        f"and work kept coming due without time moving (most runs: {busiest}). "
        f"A task that reschedules itself for now (Perpetual(every=0), a retry without "
        f"delay that never succeeds) would run forever; give it an interval, or pass "
        f"a larger max_runs if this many runs are expected."
    )


def _virtual_clock(docket: Docket) -> VirtualClock:
    clock = docket.clock
    if not isinstance(clock, VirtualClock):
        raise TypeError(
            f"advance needs a docket driven by a VirtualClock, got {clock!r} "
            f"(use the docket_testing 'docket' fixture or Docket(clock=VirtualClock()))"
        )
    return clock


def _target(clock: VirtualClock, delta_or_when: timedelta | datetime) -> datetime:
    if isinstance(delta_or_when, timedelta):
        if delta_or_when < timedelta(0):
            raise ValueError(f"delta_or_when must not be negative, got {delta_or_when!r}")
        return clock.now() + delta_or_when
    if isinstance(delta_or_when, datetime):
        if delta_or_when.tzinfo is None or delta_or_when.utcoffset() is None:
            raise ValueError(f"delta_or_when must be timezone-aware, got {delta_or_when!r}")
        if delta_or_when < clock.now():
            raise ValueError(
                f"delta_or_when must not be before now ({clock.now().isoformat()}), "
                f"got {delta_or_when!r}"
            )
        return delta_or_when
    raise TypeError(f"delta_or_when must be a timedelta or datetime, got {delta_or_when!r}")


async def advance(
    docket: Docket,
    delta_or_when: timedelta | datetime,
    *,
    raise_errors: bool = True,
    worker: Worker | None = None,
    max_runs: int = DEFAULT_MAX_RUNS,
) -> list[Execution]:
    """Move virtual time forward, running the work due at each due time on the way.

    ``delta_or_when`` is a non-negative timedelta or an aware datetime not
    before now.  First the work already due runs; then the clock jumps to the
    earliest scheduled ``when`` up to the target and ``run_due`` runs there,
    again and again, so work that schedules more work (retries with delays,
    perpetual and cron tasks) is followed step by step and each run sees the
    virtual time it was due at.  Finally the clock lands on the target.
    Returns every run on the way, in order (see ``run_due``).

    A final failure raises ``TaskFailedInTest`` at once (unless
    ``raise_errors`` is False), leaving the clock at the failure's instant.
    ``worker`` and ``max_runs`` are passed on to ``run_due`` (``max_runs``
    bounds the runs at any one instant, not the total).  Every run is added
    to the run history; work left due less than a second after the target
    warns ``NearMissWarning`` (see ``run_due``).
    """
    __tracebackhide__ = True
    clock = _virtual_clock(docket)
    target = _target(clock, delta_or_when)
    _check_max_runs(max_runs)
    runner = worker if worker is not None else Worker(docket, concurrency=1)
    async with runner:
        settled = await _run_due(docket, raise_errors, runner, max_runs, until=target)
    await warn_near_misses(docket, ran={e.key for e in settled}, helper="advance", stacklevel=2)
    return settled
