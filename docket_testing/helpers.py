"""Running due work inline and moving virtual time, through the real worker path.

``run_due`` runs everything due at the docket clock's now with a real
``Worker`` (dependencies, retries, state records and all), so what a test
sees is what production does.  ``advance`` moves a ``VirtualClock`` forward
one due time at a time, running the work due at each, so retries with delays,
perpetual chains and cron schedules unfold in order, in milliseconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from docket import Docket, Execution, ExecutionState, VirtualClock, Worker

__all__ = ["TaskFailedInTest", "advance", "run_due"]


class TaskFailedInTest(AssertionError):
    """A task run by ``run_due`` or ``advance`` failed for good.

    The task's own exception is the ``__cause__``, so pytest shows its
    traceback.
    """


async def run_due(
    docket: Docket,
    *,
    raise_errors: bool = True,
    worker: Worker | None = None,
) -> list[Execution]:
    """Run, inline and in due order, everything due at the clock's now.

    Work that the runs schedule for now (or earlier) runs too.  Returns the
    executions settled, in the order they ended.  A task's final failure
    raises ``TaskFailedInTest`` from the task's own exception unless
    ``raise_errors`` is False.  ``worker`` lets a test supply a configured
    worker (for example with worker-level dependencies); by default a
    one-at-a-time worker is used so the order is exactly the due order.
    """
    runner = worker if worker is not None else Worker(docket, concurrency=1)
    settled: list[Execution] = []
    failures: list[tuple[Execution, BaseException]] = []

    def observe(
        execution: Execution, state: ExecutionState, error: BaseException | None
    ) -> None:
        settled.append(execution)
        if state is ExecutionState.FAILED and error is not None:
            failures.append((execution, error))

    runner._observers.append(observe)
    try:
        await runner._run_until_idle()
    finally:
        runner._observers.remove(observe)
    for execution in settled:
        await execution.sync()
    if raise_errors and failures:
        execution, error = failures[0]
        raise TaskFailedInTest(
            f"task {execution.call_repr()} failed: {type(error).__name__}: {error}"
        ) from error
    return settled


def _virtual_clock(docket: Docket) -> VirtualClock:
    clock = docket.clock
    if not isinstance(clock, VirtualClock):
        raise TypeError(
            f"advance needs a docket driven by a VirtualClock, got {clock!r} "
            f"(use the docket_testing 'docket' fixture or Docket(clock=VirtualClock()))"
        )
    return clock


async def advance(
    docket: Docket,
    delta_or_when: timedelta | datetime,
    *,
    raise_errors: bool = True,
    worker: Worker | None = None,
) -> list[Execution]:
    """Move virtual time forward, running the work due at each due time on the way.

    ``delta_or_when`` is a non-negative timedelta or an aware datetime not
    before now.  Time stops at each scheduled ``when`` up to the target, in
    order, and ``run_due`` runs there, so work that schedules more work
    (retries, perpetual and cron tasks) is followed step by step.  Returns
    every execution settled on the way.
    """
    clock = _virtual_clock(docket)
    if isinstance(delta_or_when, timedelta):
        if delta_or_when < timedelta(0):
            raise ValueError(f"delta_or_when must not be negative, got {delta_or_when!r}")
        target = clock.now() + delta_or_when
    elif isinstance(delta_or_when, datetime):
        if delta_or_when.tzinfo is None:
            raise ValueError(f"delta_or_when must be timezone-aware, got {delta_or_when!r}")
        if delta_or_when < clock.now():
            raise ValueError(
                f"delta_or_when must not be before now ({clock.now().isoformat()}), "
                f"got {delta_or_when!r}"
            )
        target = delta_or_when
    else:
        raise TypeError(f"delta_or_when must be a timedelta or datetime, got {delta_or_when!r}")

    runner = worker if worker is not None else Worker(docket, concurrency=1)
    settled: list[Execution] = []
    async with runner:
        settled += await run_due(docket, raise_errors=raise_errors, worker=runner)
        while True:
            upcoming = await _next_due(docket)
            if upcoming is None or upcoming > target:
                break
            if upcoming <= clock.now():
                # Due work that run_due left alone is held elsewhere (another
                # worker's lease); stepping here again would spin.
                break
            clock.advance_to(upcoming)
            settled += await run_due(docket, raise_errors=raise_errors, worker=runner)
        clock.advance_to(target)
        settled += await run_due(docket, raise_errors=raise_errors, worker=runner)
    return settled


async def _next_due(docket: Docket) -> datetime | None:
    snapshot = await docket.snapshot()
    return min((execution.when for execution in snapshot.future), default=None)
