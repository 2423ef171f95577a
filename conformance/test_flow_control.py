"""Flow control: ``Cooldown``, ``RateLimit`` and ``Debounce``.

Pinned here, on every target and on the docket's clock:

* ``Cooldown(window)`` lets one run through per ``window``; a run within the
  window of the last one ends CANCELLED.  As a parameter default it guards
  the task; as ``Annotated`` metadata it guards each value of that argument,
  across every task taking it.  A run let through but then blocked by a later
  dependency does not use the window up.
* ``RateLimit(limit, per=)`` lets ``limit`` runs through in any window of
  ``per``; a run over the limit is rescheduled for when the earliest run in
  the window leaves it, or with ``drop=True`` ends CANCELLED.
* ``Debounce(settle)`` runs the first call of a burst, with its own
  arguments, once no call has come for ``settle``; every other call of the
  burst ends CANCELLED.  After the run the next call starts a new burst.
* Bad arguments raise at construction, naming the parameter and the value.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any

import pytest

from conformance.conftest import Target, assert_refused_naming
from docket import (
    Cooldown,
    Debounce,
    ExecutionState,
    RateLimit,
    Worker,
)
from docket.execution import Execution

MS = timedelta(milliseconds=1)
"""Stored times are kept to the millisecond."""

LONG_TTL = timedelta(days=1)
"""Records outlive every window here, so outcomes can be read at the end."""

HOUR = timedelta(hours=1)
SETTLE = timedelta(milliseconds=300)
# Annotated metadata is evaluated from the module's namespace (this module
# uses ``from __future__ import annotations``), so the windows it names are
# module constants rather than per-target locals.


def window_for(target: Target) -> timedelta:
    """An hour on a VirtualClock (costs nothing), 400 ms on the system clock."""
    return timedelta(hours=1) if target.virtual else timedelta(milliseconds=400)


async def states(executions: list[Execution]) -> list[ExecutionState]:
    for execution in executions:
        await execution.sync()
    return [execution.state for execution in executions]


async def drain(target: Target, docket: Any, step: timedelta | float = 0.1) -> None:
    # One run at a time, so which call reaches a gate first is the order added
    # (concurrent runs reach it in whatever order their round trips land).
    async with Worker(docket, concurrency=1) as worker:
        await target.drive(worker.run_until_finished(), step=step)


# -- Cooldown -----------------------------------------------------------------------


async def test_cooldown_drops_a_run_within_the_window_of_the_last(target: Target) -> None:
    window = window_for(target)
    ran: list[int] = []

    async def refresh(n: int, cooldown: Cooldown = Cooldown(window)) -> None:
        ran.append(n)

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        first = await docket.add(refresh)(1)
        second = await docket.add(refresh)(2)
        await drain(target, docket)
        assert ran == [1]
        assert await states([first, second]) == [
            ExecutionState.COMPLETED,
            ExecutionState.CANCELLED,
        ]
        assert second.error is not None and "cooling down" in second.error

        await target.elapse(window + 10 * MS)
        third = await docket.add(refresh)(3)
        await drain(target, docket)
        assert ran == [1, 3]
        assert await states([third]) == [ExecutionState.COMPLETED]


async def test_cooldown_on_an_argument_guards_each_value_across_tasks(target: Target) -> None:
    ran: list[tuple[str, int]] = []

    async def email(customer: Annotated[int, Cooldown(HOUR)]) -> None:
        ran.append(("email", customer))

    async def sms(customer: Annotated[int, Cooldown(HOUR)]) -> None:
        ran.append(("sms", customer))

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        calls = [
            await docket.add(email)(1),
            await docket.add(sms)(1),
            await docket.add(email)(2),
        ]
        await drain(target, docket)
        assert ran == [("email", 1), ("email", 2)]
        assert await states(calls) == [
            ExecutionState.COMPLETED,
            ExecutionState.CANCELLED,
            ExecutionState.COMPLETED,
        ]


async def test_a_scope_keeps_argument_gates_apart(target: Target) -> None:
    """Argument gates are shared within one ``scope`` and never across scopes."""
    ran: list[tuple[str, int]] = []

    async def email(customer: Annotated[int, Cooldown(HOUR, scope="email")]) -> None:
        ran.append(("email", customer))

    async def sms(customer: Annotated[int, Cooldown(HOUR, scope="sms")]) -> None:
        ran.append(("sms", customer))

    async def push(customer: Annotated[int, Cooldown(HOUR, scope="sms")]) -> None:
        ran.append(("push", customer))

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        calls = [
            await docket.add(email)(1),
            await docket.add(sms)(1),
            await docket.add(push)(1),
        ]
        await drain(target, docket)
        assert ran == [("email", 1), ("sms", 1)]
        assert await states(calls) == [
            ExecutionState.COMPLETED,
            ExecutionState.COMPLETED,
            ExecutionState.CANCELLED,
        ]


async def test_a_run_blocked_after_its_cooldown_does_not_use_the_window_up(
    target: Target,
) -> None:
    ran: list[tuple[int, int]] = []

    async def sync_account(
        account: Annotated[int, Cooldown(HOUR)],
        region: Annotated[int, RateLimit(1, per=HOUR, drop=True)],
    ) -> None:
        ran.append((account, region))

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        calls = [await docket.add(sync_account)(1, 1)]
        await drain(target, docket)
        # Account 2 passes its cooldown, then region 1's rate limit drops the run.
        calls.append(await docket.add(sync_account)(2, 1))
        await drain(target, docket)
        # So account 2's window was not used: this run goes through.
        calls.append(await docket.add(sync_account)(2, 2))
        await drain(target, docket)
        assert ran == [(1, 1), (2, 2)]
        assert await states(calls) == [
            ExecutionState.COMPLETED,
            ExecutionState.CANCELLED,
            ExecutionState.COMPLETED,
        ]


# -- RateLimit ----------------------------------------------------------------------


async def test_rate_limit_defers_a_run_over_the_limit_until_the_window_frees(
    target: Target,
) -> None:
    per = window_for(target)
    ran: list[tuple[int, datetime]] = []

    async def call_api(n: int, limit: RateLimit = RateLimit(2, per=per)) -> None:
        ran.append((n, target.now()))

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        start = target.now()
        calls = [await docket.add(call_api)(n) for n in (1, 2, 3)]
        first, third = calls[0], calls[2]
        async with target.running_worker(docket, concurrency=1):
            # The clock stands still here, so on a VirtualClock every run was
            # let through (or refused) at ``start``.
            async def third_deferred() -> bool:
                await third.sync()
                return len(ran) == 2 and third.state is ExecutionState.SCHEDULED

            await target.eventually(third_deferred, what="the third deferred")
            await first.sync()
            assert first.started_at is not None
            # Due once the first leaves the window: exactly then on a VirtualClock.
            assert third.when >= first.started_at + per - MS
            if target.virtual:
                assert abs(third.when - (start + per)) <= MS

            await target.elapse(per)

            async def third_done() -> bool:
                await third.sync()
                return third.state is ExecutionState.COMPLETED

            await target.eventually(third_done, what="the third completed")
        assert [n for n, _ in ran] == [1, 2, 3]
        assert await states(calls) == [ExecutionState.COMPLETED] * 3
        assert third.started_at is not None
        assert third.started_at >= first.started_at + per - MS


async def test_rate_limit_with_drop_cancels_a_run_over_the_limit(target: Target) -> None:
    ran: list[int] = []

    async def call_api(
        n: int, limit: RateLimit = RateLimit(1, per=timedelta(hours=1), drop=True)
    ) -> None:
        ran.append(n)

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        calls = [await docket.add(call_api)(n) for n in (1, 2)]
        await drain(target, docket)
        assert ran == [1]
        assert await states(calls) == [ExecutionState.COMPLETED, ExecutionState.CANCELLED]
        assert calls[1].error is not None and "rate limited" in calls[1].error


async def test_rate_limit_on_an_argument_limits_each_value(target: Target) -> None:
    ran: list[int] = []

    async def fetch(
        tenant: Annotated[int, RateLimit(1, per=HOUR, drop=True)],
    ) -> None:
        ran.append(tenant)

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        calls = [await docket.add(fetch)(tenant) for tenant in (1, 2, 1, 3)]
        await drain(target, docket)
        assert ran == [1, 2, 3]
        assert await states(calls) == [
            ExecutionState.COMPLETED,
            ExecutionState.COMPLETED,
            ExecutionState.CANCELLED,
            ExecutionState.COMPLETED,
        ]


# -- Debounce -----------------------------------------------------------------------


async def test_debounce_runs_the_first_call_of_a_burst_once_calls_settle(
    target: Target,
) -> None:
    settle = window_for(target)
    ran: list[tuple[str, datetime]] = []

    async def reindex(reason: str, debounce: Debounce = Debounce(settle)) -> None:
        ran.append((reason, target.now()))

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        async with target.running_worker(docket):
            burst = [await docket.add(reindex)("first edit")]
            await target.eventually(lambda: worker_saw(burst[0]), what="the first call seen")
            for edit in ("second edit", "third edit"):
                await target.elapse(settle / 4)
                burst.append(await docket.add(reindex)(edit))
                await target.eventually(
                    lambda: ended(burst[-1]), what=f"the {edit} dropped", guard=10
                )
            last_call = target.now()
            await target.drive(until_ended(burst[0]), step=settle / 8)

        assert [reason for reason, _ in ran] == ["first edit"]
        assert ran[0][1] >= last_call + settle - 100 * MS
        assert await states(burst) == [
            ExecutionState.COMPLETED,
            ExecutionState.CANCELLED,
            ExecutionState.CANCELLED,
        ]

        # The gate is open again: a new call is the first of a new burst.
        after = await docket.add(reindex)("later edit")
        await drain(target, docket, step=settle / 4)
        assert [reason for reason, _ in ran] == ["first edit", "later edit"]
        assert await states([after]) == [ExecutionState.COMPLETED]


async def test_debounce_on_an_argument_debounces_each_value(target: Target) -> None:
    ran: list[int] = []

    async def rebuild(page: Annotated[int, Debounce(SETTLE)]) -> None:
        ran.append(page)

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        calls = [await docket.add(rebuild)(page) for page in (1, 2, 1)]
        await drain(target, docket, step=SETTLE / 4)
        assert sorted(ran) == [1, 2]
        assert await states(calls) == [
            ExecutionState.COMPLETED,
            ExecutionState.COMPLETED,
            ExecutionState.CANCELLED,
        ]


async def worker_saw(execution: Execution) -> bool:
    """The worker has taken the call in (and, being debounced, put it back for later)."""
    await execution.sync()
    return execution.state is ExecutionState.SCHEDULED


async def ended(execution: Execution) -> bool:
    await execution.sync()
    return execution.state.is_terminal


async def until_ended(execution: Execution) -> None:
    while not await ended(execution):
        await asyncio.sleep(0.005)


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "error", "names"),
    [
        (lambda: Cooldown(5), TypeError, ("window", "5")),  # type: ignore[arg-type]
        (lambda: Cooldown(timedelta(0)), ValueError, ("window", "timedelta(0)")),
        (lambda: RateLimit(0, per=timedelta(seconds=1)), ValueError, ("limit", "0")),
        (lambda: RateLimit(True, per=timedelta(seconds=1)), TypeError, ("limit", "True")),
        (lambda: RateLimit(2, per=1.0), TypeError, ("per", "1.0")),  # type: ignore[arg-type]
        (
            lambda: RateLimit(2, per=timedelta(seconds=-1)),
            ValueError,
            ("per", "timedelta(days=-1, seconds=86399)"),
        ),
        (lambda: RateLimit(2, per=timedelta(seconds=1), drop="yes"), TypeError, ("drop", "'yes'")),  # type: ignore[arg-type]
        (lambda: Debounce(None), TypeError, ("settle", "None")),  # type: ignore[arg-type]
        (lambda: Debounce(timedelta(seconds=-1)), ValueError, ("settle",)),
        (lambda: Cooldown(HOUR, scope=""), ValueError, ("scope", "''")),
        (lambda: RateLimit(1, per=HOUR, scope=3), ValueError, ("scope", "3")),  # type: ignore[arg-type]
        (lambda: Debounce(HOUR, scope=b"x"), ValueError, ("scope", "b'x'")),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_name_the_parameter_and_the_value(
    build: Any, error: type[Exception], names: tuple[str, ...]
) -> None:
    assert_refused_naming(build, error, names)


async def test_an_annotated_dependency_that_cannot_be_evaluated_is_logged(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    window = timedelta(hours=1)  # a local: out of reach of the string annotation

    async def notify(customer: Annotated[int, Cooldown(window)]) -> None: ...

    async with target.docket() as docket:
        with caplog.at_level("WARNING", logger="docket"):
            await docket.add(notify)(1)
    assert any(
        "'customer'" in record.getMessage() and "cannot be evaluated" in record.getMessage()
        for record in caplog.records
    ), caplog.text


async def test_two_debounces_on_one_task_are_refused(target: Target) -> None:
    async def twice(
        a: Debounce = Debounce(timedelta(seconds=1)),
        b: Debounce = Debounce(timedelta(seconds=2)),
    ) -> None: ...

    async with target.docket() as docket:
        with pytest.raises(ValueError, match="Debounce"):
            await docket.add(twice)()
