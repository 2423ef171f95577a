"""Strikes: stopping a task, or calls whose arguments match, without a redeploy.

Pinned here: ``strike(fn)`` stops every call of a task, ``strike(None,
param, op, value)`` the calls of any task whose argument ``param`` matches,
``strike(fn, param, op, value)`` only that task's; the operators are ``==
!= > >= < <= between`` (inclusive), and defaults count as arguments.  Struck
work is refused at ``add`` (disposition STRUCK, nothing stored) and work
already scheduled or queued is CANCELLED when a worker meets it.  ``restore``
lifts exactly the strike made with the same arguments.  Strikes reach every
Docket and Worker of the same name.  A whole-task strike holds even when the
task also has parameter strikes.  A strike whose comparison fails for some
value (``"abc" > 5``) is logged and does not match; nothing crashes.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from conformance.conftest import Target
from docket import (
    Disposition,
    ExecutionCancelled,
    ExecutionState,
    Perpetual,
    Worker,
)


async def bill(customer: str, amount: int) -> str:
    """A task with two parameters to strike on."""
    return f"billed {customer} {amount}"


async def ship(customer: str, parcel: str = "box") -> str:
    """Another task sharing the ``customer`` parameter."""
    return f"shipped {parcel} to {customer}"


async def audit(entry: str) -> str:
    """A task without a ``customer`` parameter."""
    return f"audited {entry}"


async def backup(region: str = "eu") -> str:
    """A task whose argument usually comes from its default."""
    return f"backed up {region}"


async def test_a_struck_task_is_refused_at_add_until_restored(target: Target) -> None:
    """``strike(fn)``: add returns STRUCK and stores nothing; ``restore(fn)`` undoes it."""
    async with target.docket() as docket:
        await docket.strike(bill)
        refused = await docket.add(bill, key="bill-1")("ada", 10)
        assert refused.disposition is Disposition.STRUCK
        assert await docket.get_execution("bill-1") is None
        assert (await docket.snapshot()).total_tasks == 0
        # Other tasks are untouched.
        other = await docket.add(ship)("ada")
        assert other.disposition is Disposition.SCHEDULED

        await docket.restore(bill)
        accepted = await docket.add(bill, key="bill-1")("ada", 10)
        assert accepted.disposition is Disposition.SCHEDULED
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(accepted.get_result()) == "billed ada 10"


async def test_a_task_can_be_struck_by_name(target: Target) -> None:
    """The task may be named instead of passed."""
    async with target.docket() as docket:
        docket.register(bill)
        await docket.strike("bill")
        assert (await docket.add("bill")("ada", 1)).disposition is Disposition.STRUCK
        assert (await docket.add(bill)("ada", 1)).disposition is Disposition.STRUCK
        await docket.restore("bill")
        assert (await docket.add("bill")("ada", 1)).disposition is Disposition.SCHEDULED


@pytest.mark.parametrize(
    "operator, value, struck",
    [
        ("==", 3, {3}),
        ("!=", 3, {1, 2, 4, 5}),
        (">", 3, {4, 5}),
        (">=", 3, {3, 4, 5}),
        ("<", 3, {1, 2}),
        ("<=", 3, {1, 2, 3}),
        ("between", (2, 4), {2, 3, 4}),
    ],
)
async def test_operators_compare_the_argument_with_the_value(
    target: Target, operator: str, value: Any, struck: set[int]
) -> None:
    """``strike(fn, param, op, value)`` refuses exactly the calls where ``arg op value``."""
    async with target.docket() as docket:
        await docket.strike(bill, "amount", operator, value)
        refused = set()
        for amount in range(1, 6):
            execution = await docket.add(bill)("ada", amount=amount)
            if execution.disposition is Disposition.STRUCK:
                refused.add(amount)
            else:
                assert execution.disposition is Disposition.SCHEDULED
        assert refused == struck
        assert (await docket.snapshot()).total_tasks == 5 - len(struck)


async def test_a_parameter_strike_covers_every_task_with_that_parameter(target: Target) -> None:
    """With no function named, any task whose ``customer`` matches is refused."""
    async with target.docket() as docket:
        await docket.strike(None, "customer", "==", "mallory")
        assert (await docket.add(bill)("mallory", 5)).disposition is Disposition.STRUCK
        assert (await docket.add(ship)(customer="mallory")).disposition is Disposition.STRUCK
        assert (await docket.add(bill)("ada", 5)).disposition is Disposition.SCHEDULED
        assert (await docket.add(ship)("ada")).disposition is Disposition.SCHEDULED
        assert (await docket.add(audit)("mallory")).disposition is Disposition.SCHEDULED


async def test_a_task_and_parameter_strike_covers_only_that_task(target: Target) -> None:
    """Naming both the task and the parameter leaves other tasks alone."""
    async with target.docket() as docket:
        await docket.strike(bill, "customer", "==", "mallory")
        assert (await docket.add(bill)("mallory", 5)).disposition is Disposition.STRUCK
        assert (await docket.add(ship)("mallory")).disposition is Disposition.SCHEDULED


async def test_defaults_count_as_arguments(target: Target) -> None:
    """A call that leaves an argument to its default is matched on the default."""
    async with target.docket() as docket:
        await docket.strike(backup, "region", "==", "eu")
        assert (await docket.add(backup)()).disposition is Disposition.STRUCK
        assert (await docket.add(backup)("eu")).disposition is Disposition.STRUCK
        assert (await docket.add(backup)(region="us")).disposition is Disposition.SCHEDULED


async def test_restore_lifts_only_the_same_strike(target: Target) -> None:
    """``restore`` needs the same task, parameter, operator and value as the strike."""
    async with target.docket() as docket:
        await docket.strike(bill, "amount", ">=", 100)
        await docket.restore(bill, "amount", ">=", 99)
        await docket.restore(bill, "amount", ">", 100)
        await docket.restore(None, "amount", ">=", 100)
        assert (await docket.add(bill)("ada", 100)).disposition is Disposition.STRUCK
        await docket.restore(bill, "amount", ">=", 100)
        assert (await docket.add(bill)("ada", 100)).disposition is Disposition.SCHEDULED


async def test_queued_work_struck_later_is_cancelled_when_a_worker_meets_it(
    target: Target,
) -> None:
    """Work added before the strike is not run: it ends CANCELLED; the rest runs."""
    ran: list[str] = []

    async def notify(customer: str) -> str:
        ran.append(customer)
        return customer

    async with target.docket() as docket:
        good = await docket.add(notify)("ada")
        bad = await docket.add(notify)("mallory")
        later = await docket.add(notify, when=target.later(0.2))("mallory")
        await docket.strike(notify, "customer", "==", "mallory")
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.05)

        assert ran == ["ada"]
        assert await target.wait(good.get_result()) == "ada"
        for struck in (bad, later):
            await struck.sync()
            assert struck.state is ExecutionState.CANCELLED
            with pytest.raises(ExecutionCancelled):
                await target.wait(struck.get_result())
        assert (await docket.snapshot()).total_tasks == 0


async def test_a_whole_task_strike_holds_alongside_parameter_strikes(target: Target) -> None:
    """Striking the whole task after striking one of its arguments stops every call."""
    async with target.docket() as docket:
        await docket.strike(bill, "customer", "==", "mallory")
        await docket.strike(bill)
        assert (await docket.add(bill)("ada", 1)).disposition is Disposition.STRUCK
        assert (await docket.add(bill)("mallory", 1)).disposition is Disposition.STRUCK

        await docket.restore(bill)
        assert (await docket.add(bill)("ada", 1)).disposition is Disposition.SCHEDULED
        assert (await docket.add(bill)("mallory", 1)).disposition is Disposition.STRUCK


async def test_a_whole_task_strike_cancels_queued_work_alongside_parameter_strikes(
    target: Target,
) -> None:
    """The same holds at execution: queued calls of a wholly struck task are cancelled."""
    ran: list[str] = []

    async def notify(customer: str) -> None:
        ran.append(customer)

    async with target.docket() as docket:
        queued = await docket.add(notify)("ada")
        await docket.strike(notify, "customer", "==", "mallory")
        await docket.strike(notify)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert ran == []
        await queued.sync()
        assert queued.state is ExecutionState.CANCELLED


async def test_a_comparison_that_fails_is_logged_and_does_not_match(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """``"abc" > 5`` cannot be decided: the call is not struck, a warning is logged,
    and neither ``add`` nor the worker crashes."""
    ran: list[object] = []

    async def measure(reading: object) -> None:
        ran.append(reading)

    caplog.set_level(logging.WARNING, logger="docket")
    async with target.docket() as docket:
        queued_before = await docket.add(measure)("queued-text")
        await docket.strike(measure, "reading", ">", 5)

        text = await docket.add(measure)("abc")
        assert text.disposition is Disposition.SCHEDULED
        assert (await docket.add(measure)(10)).disposition is Disposition.STRUCK
        assert (await docket.add(measure)(1)).disposition is Disposition.SCHEDULED
        warnings = [
            r
            for r in caplog.records
            if r.name.startswith("docket")
            and r.levelno == logging.WARNING
            and "abc" in r.getMessage()
        ]
        assert warnings, "the failed comparison should be logged"

        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert sorted(map(str, ran)) == ["1", "abc", "queued-text"]
        await queued_before.sync()
        assert queued_before.state is ExecutionState.COMPLETED
    assert any(
        "queued-text" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )


async def test_strikes_reach_every_docket_and_worker_of_the_name(target: Target) -> None:
    """A strike made through one Docket object holds for another, and its worker."""
    ran: list[str] = []

    async def notify(customer: str) -> None:
        ran.append(customer)

    async with target.docket() as admin, target.docket() as app:
        app.register(notify)
        admin.register(notify)
        queued = await app.add(notify, key="queued-before")("mallory")

        await admin.strike(notify, "customer", "==", "mallory")
        probes = 0

        async def refused_by_app() -> bool:
            nonlocal probes
            probes += 1
            probe = await app.add(
                notify, when=target.later(timedelta(days=1)), key=f"probe-{probes}"
            )("mallory")
            return probe.disposition is Disposition.STRUCK

        await target.eventually(refused_by_app, what="the strike reaching the other docket")
        await app.clear()  # drop any probe scheduled before the strike arrived

        async with Worker(app) as worker:
            await target.drive(worker.run_until_finished())
        assert ran == []
        await queued.sync()
        assert queued.state is ExecutionState.CANCELLED

        await admin.restore(notify, "customer", "==", "mallory")

        async def accepted_by_app() -> bool:
            nonlocal probes
            probes += 1
            probe = await app.add(notify, key=f"probe-{probes}")("mallory")
            return probe.disposition is Disposition.SCHEDULED

        await target.eventually(accepted_by_app, what="the restore reaching the other docket")
        async with Worker(app) as worker:
            await target.drive(worker.run_until_finished())
        assert ran == ["mallory"]


async def test_a_docket_opened_later_sees_strikes_already_in_force(target: Target) -> None:
    """Strikes live in storage: a Docket opened after the strike knows it at once."""
    async with target.docket() as admin:
        await admin.strike(bill)
        async with target.docket() as late:
            assert (await late.add(bill)("ada", 1)).disposition is Disposition.STRUCK


async def test_a_struck_perpetual_chain_stops_and_resumes_after_restore(target: Target) -> None:
    """Striking a perpetual task cancels its next run, ending the chain; after a restore
    a starting worker seeds the automatic task again."""
    runs: list[int] = []

    async def pulse(
        perpetual: Perpetual = Perpetual(every=timedelta(seconds=0.05), automatic=True),
    ) -> None:
        runs.append(len(runs))

    async with target.docket() as docket:
        docket.register(pulse)
        async with target.running_worker(docket):
            await target.drive(
                target.eventually(lambda: len(runs) >= 2, what="the chain running"), step=0.05
            )
            await docket.strike(pulse)

            async def chain_stopped() -> bool:
                execution = await docket.get_execution("pulse")
                return execution is not None and execution.state is ExecutionState.CANCELLED

            await target.drive(target.eventually(chain_stopped, what="the next run cancelled"))
            stopped_at = len(runs)
            await target.elapse(0.2)
            assert len(runs) == stopped_at
            assert (await docket.snapshot()).total_tasks == 0

        await docket.restore(pulse)
        async with target.running_worker(docket):
            await target.drive(target.eventually(lambda: len(runs) > stopped_at, what="resumed"))


async def test_a_struck_automatic_task_heals_at_the_next_reseed_after_restore(
    target: Target,
) -> None:
    """With the worker still running, a restore is picked up by the 60 s reseed."""
    if not target.virtual:
        pytest.skip("the 60 s reseed needs a VirtualClock; the worker-start reseed covers it")
    runs: list[int] = []

    async def pulse(
        perpetual: Perpetual = Perpetual(every=timedelta(minutes=10), automatic=True),
    ) -> None:
        runs.append(len(runs))

    async with target.docket() as docket:
        docket.register(pulse)
        async with target.running_worker(docket):
            await target.eventually(lambda: len(runs) == 1, what="the seeded run")
            await docket.strike(pulse)
            for _ in range(11):  # the next run, due in ten minutes, is cancelled
                await target.elapse(timedelta(minutes=1))
            execution = await docket.get_execution("pulse")
            assert execution is not None and execution.state is ExecutionState.CANCELLED
            assert runs == [0]

            await docket.restore(pulse)
            for _ in range(13):  # 65 s in 5 s steps
                await target.elapse(timedelta(seconds=5))
            await target.eventually(lambda: len(runs) == 2, what="the healed chain's run")


async def test_bad_strikes_are_refused_with_a_clear_error(target: Target) -> None:
    """A strike needs a task or a parameter, a known operator and a fitting value."""
    async with target.docket() as docket:
        with pytest.raises(ValueError, match="function|parameter"):
            await docket.strike()
        with pytest.raises(ValueError, match="operator"):
            await docket.strike(bill, "amount", "~=", 3)
        with pytest.raises(ValueError, match="between"):
            await docket.strike(bill, "amount", "between", 3)
        assert (await docket.add(bill)("ada", 3)).disposition is Disposition.SCHEDULED
