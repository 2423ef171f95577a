"""Work for a task a worker does not know waits for one that does (a rolling deploy).

Pinned here: a worker that meets a task it does not know puts the execution
back on the queue, SCHEDULED with its key, arguments and attempt unchanged,
for ``unknown_task_grace`` (default ten minutes), trying again with a backoff
of at least a second; a worker that knows the task runs it meanwhile with the
original arguments, and nothing is dead-lettered.  Once the grace has passed
the next worker that does not know it sets it aside (FAILED, one dead letter).
A replayed dead letter gets the whole grace again.  A negative or non-duration
grace is refused naming the parameter.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from conformance.conftest import Target
from docket import ExecutionState, Worker

ran: list[tuple[int, str]] = []


async def shipped_in_the_new_release(order_id: int, note: str = "") -> None:
    """Only the new release's workers register this."""
    ran.append((order_id, note))


@pytest.fixture(autouse=True)
def forget_runs() -> None:
    ran.clear()


async def test_an_old_worker_puts_unknown_work_back_for_a_new_one(target: Target) -> None:
    async with target.docket() as new, target.docket() as old:
        new.register(shipped_in_the_new_release)
        execution = await new.add(shipped_in_the_new_release, key="order-7")(7, note="gift")

        async with Worker(old, unknown_task_grace=timedelta(minutes=5)) as worker:
            await target.drive(worker.run_until_idle())
        await execution.sync()
        assert execution.state is ExecutionState.SCHEDULED
        assert execution.attempt == 1
        assert execution.when > target.now()
        assert await old.dead_letters() == []
        assert ran == []

        async with Worker(new) as worker:
            await target.drive(worker.run_until_finished())
        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED
        assert ran == [(7, "gift")]
        assert await new.dead_letters() == []


async def test_unknown_work_is_set_aside_once_the_grace_has_passed(target: Target) -> None:
    async with target.docket() as new, target.docket() as old:
        new.register(shipped_in_the_new_release)
        execution = await new.add(shipped_in_the_new_release, key="order-8")(8)

        async with Worker(old, unknown_task_grace=timedelta(seconds=2)) as worker:
            await target.drive(worker.run_until_finished())

        await execution.sync()
        assert execution.state is ExecutionState.FAILED
        assert execution.error is not None and "shipped_in_the_new_release" in execution.error
        letters = await old.dead_letters()
        assert [(letter.key, letter.attempt) for letter in letters] == [("order-8", 1)]
        assert ran == []


@pytest.mark.parametrize("bad", [timedelta(seconds=-1), -1, "10m", None])
async def test_a_bad_unknown_task_grace_is_refused(target: Target, bad: object) -> None:
    async with target.docket() as docket:
        with pytest.raises((TypeError, ValueError), match="unknown_task_grace"):
            Worker(docket, unknown_task_grace=bad)  # type: ignore[arg-type]


async def test_a_replayed_letter_gets_the_whole_grace_again(target: Target) -> None:
    async with target.docket() as new, target.docket() as old:
        new.register(shipped_in_the_new_release)
        execution = await new.add(shipped_in_the_new_release, key="order-9")(9)
        async with Worker(old, unknown_task_grace=timedelta(seconds=2)) as worker:
            await target.drive(worker.run_until_finished())
        [letter] = await old.dead_letters()

        # The first refusal was at least the grace ago: carried over, it would
        # set the replayed work aside at once.
        replayed = await old.replay_dead_letter(letter)
        async with Worker(old, unknown_task_grace=timedelta(seconds=2)) as worker:
            await target.drive(worker.run_until_idle())
        await replayed.sync()
        assert replayed.state is ExecutionState.SCHEDULED  # deferred, not set aside at once
        assert await old.dead_letters() == []
        await execution.sync()
        assert execution.key == replayed.key == "order-9"
