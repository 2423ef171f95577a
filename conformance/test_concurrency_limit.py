"""``ConcurrencyLimit``: at most N runs at once, per task or per argument value.

Pinned here, on every target: no more than ``max_concurrent`` runs through
one gate overlap, even with worker slots to spare; a run over the limit waits
parked (SCHEDULED) and starts as soon as a slot is given back, with no
time passing on the docket's clock (so no polling); a slot is
given back however the run ends; argument gates (named, or ``Annotated``)
limit each value separately; bad arguments raise at construction or at
registration, naming what was wrong.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest

from conformance.conftest import Target, assert_refused_naming, release_on_exit
from docket import ConcurrencyLimit, ExecutionState, Worker
from docket.execution import Execution


class Overlap:
    """Counts the runs in progress, overall and by gate value; runs wait for ``go``."""

    def __init__(self) -> None:
        self.now: dict[Any, int] = {}
        self.most: dict[Any, int] = {}
        self.started: list[Any] = []
        self.go = asyncio.Event()

    async def run(self, label: Any, gate: Any = None) -> None:
        self.started.append(label)
        self.now[gate] = self.now.get(gate, 0) + 1
        self.most[gate] = max(self.most.get(gate, 0), self.now[gate])
        try:
            await self.go.wait()
            await asyncio.sleep(0)
        finally:
            self.now[gate] -= 1


async def settle_states(executions: list[Execution]) -> list[ExecutionState]:
    for execution in executions:
        await execution.sync()
    return [execution.state for execution in executions]


async def test_a_task_limit_runs_one_at_a_time(target: Target) -> None:
    overlap = Overlap()
    overlap.go.set()

    async def export(n: int, limit: ConcurrencyLimit = ConcurrencyLimit()) -> None:
        await overlap.run(n)

    async with target.docket() as docket:
        calls = [await docket.add(export)(n) for n in range(1, 5)]
        async with Worker(docket, concurrency=10) as worker:
            # Not target.drive: the clock must not move; parked runs are woken,
            # not retried after a delay.
            await target.wait(worker.run_until_finished())
        # Concurrent runs race for the slot, so the order is not fixed.
        assert sorted(overlap.started) == [1, 2, 3, 4]
        assert overlap.most[None] == 1
        assert await settle_states(calls) == [ExecutionState.COMPLETED] * 4


async def test_a_run_over_the_limit_waits_parked_until_a_slot_is_given_back(
    target: Target,
) -> None:
    overlap = Overlap()

    async def export(n: int, limit: ConcurrencyLimit = ConcurrencyLimit(max_concurrent=2)) -> None:
        await overlap.run(n)

    async with target.docket() as docket:
        calls = [await docket.add(export)(n) for n in range(1, 4)]
        async with target.running_worker(docket, concurrency=10):
            with release_on_exit(overlap.go):
                await target.eventually(lambda: len(overlap.started) == 2, what="two running")
                # Concurrent runs race for the slots: whichever lost is parked.
                [waiting] = [call for n, call in enumerate(calls, 1) if n not in overlap.started]

                async def parked() -> bool:
                    await waiting.sync()
                    return waiting.state is ExecutionState.SCHEDULED

                await target.eventually(parked, what="the third parked")
                assert len(overlap.started) == 2

                overlap.go.set()
                await target.eventually(
                    lambda: sorted(overlap.started) == [1, 2, 3], what="the third woken"
                )

                async def all_done() -> bool:
                    return await settle_states(calls) == [ExecutionState.COMPLETED] * 3

                await target.eventually(all_done, what="all three completed")
        assert overlap.most[None] == 2


async def test_a_named_argument_limits_each_of_its_values(target: Target) -> None:
    overlap = Overlap()

    async def sync_customer(
        customer_id: int, step: str, limit: ConcurrencyLimit = ConcurrencyLimit("customer_id")
    ) -> None:
        await overlap.run((customer_id, step), gate=customer_id)

    async with target.docket() as docket:
        calls = [
            await docket.add(sync_customer)(1, "a"),
            await docket.add(sync_customer)(1, "b"),
            await docket.add(sync_customer)(2, "a"),
        ]
        async with target.running_worker(docket, concurrency=10):
            with release_on_exit(overlap.go):
                await target.eventually(
                    lambda: sorted(customer for customer, _ in overlap.started) == [1, 2],
                    what="one run per customer",
                )
                # Customer 1's two runs raced for its slot: the loser is parked.
                [(_, winner)] = [label for label in overlap.started if label[0] == 1]
                waiting = calls[1] if winner == "a" else calls[0]

                async def parked() -> bool:
                    await waiting.sync()
                    return waiting.state is ExecutionState.SCHEDULED

                await target.eventually(parked, what="customer 1's other run parked")
                assert len(overlap.started) == 2
                overlap.go.set()

                async def all_done() -> bool:
                    return await settle_states(calls) == [ExecutionState.COMPLETED] * 3

                await target.eventually(all_done, what="all three completed")
        assert overlap.most == {1: 1, 2: 1}
        assert overlap.started[-1] == (1, "b" if winner == "a" else "a")


async def test_an_omitted_argument_is_limited_by_its_default(target: Target) -> None:
    """``ConcurrencyLimit(argument_name=...)`` keys on the value the task runs with:
    the default when the caller leaves the argument out (pydocket's rule)."""
    overlap = Overlap()
    overlap.go.set()

    async def sync_region(
        region: str = "eu",
        limit: ConcurrencyLimit = ConcurrencyLimit(argument_name="region", max_concurrent=1),
    ) -> None:
        await overlap.run(("sync", region), gate=region)

    async with target.docket() as docket:
        calls = [
            await docket.add(sync_region)(),
            await docket.add(sync_region)("eu"),
            await docket.add(sync_region)(region="us"),
        ]
        async with Worker(docket, concurrency=10) as worker:
            await target.drive(worker.run_until_finished())
        assert await settle_states(calls) == [ExecutionState.COMPLETED] * 3
        assert overlap.most == {"eu": 1, "us": 1}


async def test_an_annotated_argument_limits_each_value_across_tasks(target: Target) -> None:
    overlap = Overlap()
    overlap.go.set()

    async def bill(account: Annotated[int, ConcurrencyLimit(1)]) -> None:
        await overlap.run(("bill", account), gate=account)

    async def refund(account: Annotated[int, ConcurrencyLimit(1)]) -> None:
        await overlap.run(("refund", account), gate=account)

    async with target.docket() as docket:
        calls = [
            await docket.add(bill)(7),
            await docket.add(refund)(7),
            await docket.add(bill)(8),
        ]
        async with Worker(docket, concurrency=10) as worker:
            await target.wait(worker.run_until_finished())
        assert await settle_states(calls) == [ExecutionState.COMPLETED] * 3
        assert overlap.most == {7: 1, 8: 1}


async def test_a_failing_run_gives_its_slot_back(target: Target) -> None:
    ran: list[int] = []

    async def flaky(n: int, limit: ConcurrencyLimit = ConcurrencyLimit()) -> None:
        ran.append(n)
        if n == 1:
            raise RuntimeError("the first one fails")

    async with target.docket() as docket:
        calls = [await docket.add(flaky)(n) for n in (1, 2)]
        async with Worker(docket, concurrency=10) as worker:
            await target.wait(worker.run_until_finished())
        assert ran == [1, 2]
        assert await settle_states(calls) == [ExecutionState.FAILED, ExecutionState.COMPLETED]


async def test_a_cancelled_parked_run_is_skipped(target: Target) -> None:
    overlap = Overlap()

    async def export(n: int, limit: ConcurrencyLimit = ConcurrencyLimit()) -> None:
        await overlap.run(n)

    async with target.docket() as docket:
        calls = [await docket.add(export, key=f"export-{n}")(n) for n in range(1, 4)]
        async with target.running_worker(docket, concurrency=10):
            with release_on_exit(overlap.go):
                await target.eventually(lambda: len(overlap.started) == 1, what="one running")
                [first] = overlap.started
                waiting = [call for n, call in enumerate(calls, 1) if n != first]

                async def both_parked() -> bool:
                    states = await settle_states(waiting)
                    return states == [ExecutionState.SCHEDULED] * 2

                await target.eventually(both_parked, what="the others parked")
                cancelled, survivor = waiting
                await docket.cancel(cancelled.key)
                overlap.go.set()

                async def done() -> bool:
                    await settle_states(calls)
                    return cancelled.state is ExecutionState.CANCELLED and all(
                        call.state is ExecutionState.COMPLETED
                        for call in calls
                        if call is not cancelled
                    )

                await target.eventually(done, what="the survivor run after the first")
        assert len(overlap.started) == 2 and overlap.started[0] == first
        assert sorted(overlap.started) == sorted(
            n for n, call in enumerate(calls, 1) if call is not cancelled
        )


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "error", "names"),
    [
        (lambda: ConcurrencyLimit(0), ValueError, ("max_concurrent", "0")),
        (lambda: ConcurrencyLimit("c", max_concurrent=0), ValueError, ("max_concurrent", "0")),
        (lambda: ConcurrencyLimit("c", max_concurrent=1.5), TypeError, ("max_concurrent", "1.5")),  # type: ignore[arg-type]
        (lambda: ConcurrencyLimit(2, max_concurrent=3), TypeError, ("max_concurrent", "2", "3")),
        (lambda: ConcurrencyLimit(2.0), TypeError, ("argument_name", "2.0")),  # type: ignore[arg-type]
        (lambda: ConcurrencyLimit(""), ValueError, ("argument_name", "''")),
        (lambda: ConcurrencyLimit("c", 1, scope=""), ValueError, ("scope", "''")),
        (lambda: ConcurrencyLimit(max_concurrent=True), TypeError, ("max_concurrent", "True")),
    ],
)
def test_bad_arguments_name_the_parameter_and_the_value(
    build: Any, error: type[Exception], names: tuple[str, ...]
) -> None:
    assert_refused_naming(build, error, names)


async def test_naming_an_argument_the_task_lacks_is_refused_when_it_is_added(
    target: Target,
) -> None:
    async def export(n: int, limit: ConcurrencyLimit = ConcurrencyLimit("customer")) -> None: ...

    async with target.docket() as docket:
        with pytest.raises(ValueError, match="has no argument 'customer'"):
            await docket.add(export)(1)
        assert (await docket.snapshot()).total_tasks == 0


async def test_two_limits_on_one_task_are_refused(target: Target) -> None:
    async def twice(
        a: ConcurrencyLimit = ConcurrencyLimit(),
        b: ConcurrencyLimit = ConcurrencyLimit(2),
    ) -> None: ...

    async with target.docket() as docket:
        with pytest.raises(ValueError, match="ConcurrencyLimit"):
            await docket.add(twice)()
