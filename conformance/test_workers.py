"""Workers: the guide's "Running Tasks: Workers", concurrency, run modes, stopping.

Pinned here: a worker never runs more than ``concurrency`` tasks at once and
does reach that many; ``run_until_finished`` returns only when no future,
queued or running work is left; ``run_at_most`` bounds runs per key or task
name and cancels the deliveries past the bound; cancelling ``run_forever``
raises ``CancelledError`` in the caller; leaving the worker's context lets
running work finish; ``abandon()`` followed by a cancellation leaves at once and
hands running work back, queued and never settled, however often the cancel
repeats.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from conformance.conftest import Target, release_on_exit
from docket import ExecutionState, Worker


async def test_the_guides_worker_runs_registered_tasks_until_interrupted(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide's worker example: register two tasks, run_forever until cancelled."""

    async def process_order(order_id: int) -> None:
        print(f"Processing order {order_id}")

    async def send_notification(message: str) -> None:
        print(f"Notification: {message}")

    async with target.docket() as producer, target.docket() as docket:
        # Register tasks so workers know about them
        docket.register(process_order)
        docket.register(send_notification)
        assert docket.tasks["process_order"] is process_order
        assert docket.tasks["send_notification"] is send_notification

        producer.register(process_order)
        producer.register(send_notification)
        order = await producer.add("process_order")(12345)
        note = await producer.add("send_notification")("Your order shipped")

        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_forever())
            await target.wait(order.get_result())
            await target.wait(note.get_result())
            assert not runner.done()
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await target.wait(runner)

    assert sorted(capsys.readouterr().out.splitlines()) == [
        "Notification: Your order shipped",
        "Processing order 12345",
    ]


async def test_a_worker_picks_up_work_added_while_it_waits(target: Target) -> None:
    """An idle worker notices new work without being restarted."""

    async def job(n: int) -> int:
        return n * 2

    async with target.docket() as docket:
        async with target.running_worker(docket):
            await target.settle()
            first = await docket.add(job)(1)
            assert await target.wait(first.get_result()) == 2
            second = await docket.add(job)(2)
            assert await target.wait(second.get_result()) == 4


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_concurrency_is_honoured_exactly(target: Target, concurrency: int) -> None:
    """At most ``concurrency`` tasks run at once, and the worker does fill every slot."""
    total = concurrency * 3
    running = 0
    peak = 0
    started = 0
    release = asyncio.Event()

    async def hold() -> None:
        nonlocal running, peak, started
        running += 1
        started += 1
        peak = max(peak, running)
        try:
            await release.wait()
        finally:
            running -= 1

    async with target.docket() as docket:
        executions = [await docket.add(hold)() for _ in range(total)]
        async with Worker(docket, concurrency=concurrency) as worker:
            runner = asyncio.create_task(worker.run_until_finished())
            with release_on_exit(release):
                await target.eventually(
                    lambda: running >= concurrency, what=f"{concurrency} running"
                )
                # Give an over-eager worker every chance to start one more.
                await target.settle()
                await asyncio.sleep(0.1)
                assert running == concurrency
                assert started == concurrency

                snapshot = await docket.snapshot()
                assert len(snapshot.running) == concurrency
                assert len(snapshot.future) == total - concurrency
                assert all(e.worker == worker.name for e in snapshot.running)

            await target.drive(runner)

        assert peak == concurrency
        assert started == total
        for execution in executions:
            await execution.sync()
            assert execution.state is ExecutionState.COMPLETED


async def test_run_until_finished_returns_at_once_with_no_work(target: Target) -> None:
    """With nothing to do, ``run_until_finished`` returns without the clock moving."""
    async with target.docket() as docket:
        async with Worker(docket) as worker:
            await target.wait(worker.run_until_finished())


async def test_run_until_finished_waits_for_future_work(target: Target) -> None:
    """Future work counts: the run returns only after it has come due and run."""
    calls: list[str] = []

    async def job(label: str) -> None:
        calls.append(label)

    async with target.docket() as docket:
        await docket.add(job)("now")
        later = await docket.add(job, when=target.later(0.3))("later")

        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_until_finished())
            await target.eventually(lambda: calls == ["now"], what="the immediate task")
            await target.settle()
            assert not runner.done()
            await target.drive(runner, step=0.1)

        assert calls == ["now", "later"]
        await later.sync()
        assert later.state is ExecutionState.COMPLETED
        assert (await docket.snapshot()).total_tasks == 0


async def test_run_until_finished_runs_work_that_tasks_schedule(target: Target) -> None:
    """Work scheduled by a running task (now or a moment later) is part of "finished"."""
    calls: list[int] = []

    async with target.docket() as docket:

        async def countdown(n: int) -> None:
            calls.append(n)
            if n > 0:
                when = docket.clock.now() + timedelta(seconds=0.1) if n % 2 else None
                await docket.add(countdown, when=when)(n - 1)

        await docket.add(countdown)(4)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.05)

    assert calls == [4, 3, 2, 1, 0]


async def test_run_at_most_bounds_runs_by_task_name(target: Target) -> None:
    """``run_at_most({name: n})`` runs n of that task; further deliveries are cancelled."""
    calls: list[int] = []

    async def tick(n: int) -> None:
        calls.append(n)

    async def other() -> str:
        return "ran"

    async with target.docket() as docket:
        ticks = [await docket.add(tick)(n) for n in range(5)]
        unbounded = await docket.add(other)()
        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_at_most({"tick": 2}))

        assert calls == [0, 1]
        states = []
        for execution in ticks:
            await execution.sync()
            states.append(execution.state)
        assert states == [ExecutionState.COMPLETED] * 2 + [ExecutionState.CANCELLED] * 3
        assert await target.wait(unbounded.get_result()) == "ran"
        assert (await docket.snapshot()).total_tasks == 0


async def test_run_at_most_bounds_a_self_rescheduling_chain_by_key(target: Target) -> None:
    """A task that keeps rescheduling itself under its key is stopped after n runs."""
    calls: list[int] = []

    async with target.docket() as docket:

        async def again(n: int) -> None:
            calls.append(n)
            await docket.replace(again, when=docket.clock.now(), key="chain")(n + 1)

        await docket.add(again, key="chain")(0)
        async with Worker(docket) as worker:
            await target.drive(worker.run_at_most({"chain": 3}))

        assert calls == [0, 1, 2]
        assert (await docket.snapshot()).total_tasks == 0


async def test_cancelling_run_forever_propagates(target: Target) -> None:
    """``run_forever`` does not swallow cancellation, so timeouts around it work."""
    async with target.docket() as docket:
        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_forever())
            await target.settle()
            assert not runner.done()
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await target.wait(runner)


async def test_cancelling_run_until_finished_propagates(target: Target) -> None:
    """The same holds while ``run_until_finished`` waits for future work."""

    async def job() -> None:
        pass

    async with target.docket() as docket:
        await docket.add(job, when=target.later(timedelta(hours=1)))()
        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_until_finished())
            await target.settle()
            assert not runner.done()
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await target.wait(runner)


async def test_leaving_the_worker_context_finishes_running_work(target: Target) -> None:
    """Graceful stop: work already running when the worker stops still completes."""
    started = asyncio.Event()
    finished: list[str] = []

    async def slow() -> str:
        started.set()
        await asyncio.sleep(0.2)
        finished.append("slow")
        return "done"

    async with target.docket() as docket:
        execution = await docket.add(slow)()
        async with Worker(docket) as worker:
            runner = asyncio.create_task(worker.run_forever())
            await target.wait(started.wait())
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await target.wait(runner)
            assert finished == []

        assert finished == ["slow"]
        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED
        assert await target.wait(execution.get_result()) == "done"


async def test_an_abandoning_worker_hands_running_work_back_at_once(target: Target) -> None:
    """``abandon()`` then cancelling: running work is cancelled and queued again at
    once, for any worker, even when the cancel repeats while the worker leaves."""
    started = asyncio.Event()
    cancelled: list[str] = []

    async def hold() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("hold")
            raise

    async with target.docket() as docket:
        execution = await docket.add(hold)()
        worker = Worker(docket, redelivery_timeout=timedelta(hours=1))

        async def work() -> None:
            async with worker:
                await worker.run_forever()

        runner = asyncio.create_task(work())
        await target.wait(started.wait())
        # What a second Ctrl-C does: mark the stop as abandoning, then cancel
        # the worker's task, and cancel again while it leaves.
        worker.abandon()
        for _ in range(3):
            runner.cancel()
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await target.wait(runner)

        assert cancelled == ["hold"]
        await execution.sync()
        assert execution.state is ExecutionState.QUEUED
        assert execution.worker is None


async def test_a_stopped_worker_claims_nothing_more(target: Target) -> None:
    """After the worker's context is left, newly added work stays queued."""

    async def job() -> None:
        pass

    async with target.docket() as docket:
        async with Worker(docket) as worker:
            await target.wait(worker.run_until_finished())
        execution = await docket.add(job)()
        await target.settle()
        await execution.sync()
        assert execution.state is ExecutionState.QUEUED


async def test_running_work_is_visible_with_its_worker(target: Target) -> None:
    """While a task runs, its record and the snapshot say which worker has it."""
    started = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        started.set()
        await release.wait()

    async with target.docket() as docket:
        execution = await docket.add(hold)()
        async with target.running_worker(docket, name="worker-one") as worker:
            with release_on_exit(release):
                await target.wait(started.wait())
                await execution.sync()
                assert execution.state is ExecutionState.RUNNING
                assert execution.worker == worker.name == "worker-one"
                assert execution.started_at is not None

                snapshot = await docket.snapshot()
                assert [e.key for e in snapshot.running] == [execution.key]
                assert snapshot.running[0].worker == "worker-one"
                assert snapshot.future == []
                assert snapshot.total_tasks == 1

            await target.wait(execution.get_result())


async def test_workers_are_listed_while_they_run(target: Target) -> None:
    """``docket.workers()`` and ``task_workers(name)`` list a running worker by name;
    a worker that stopped is no longer listed."""

    async def job() -> None:
        pass

    async with target.docket() as docket:
        docket.register(job)
        async with target.running_worker(docket, name="lister"):

            async def listed() -> bool:
                return "lister" in {w.name for w in await docket.workers()}

            await target.eventually(listed, what="the worker listed")
            assert "lister" in {w.name for w in await docket.task_workers("job")}
            assert await docket.task_workers("no_such_task") == []

        assert "lister" not in {w.name for w in await docket.workers()}


async def test_worker_run_opens_its_own_docket_and_runs_until_finished(target: Target) -> None:
    """``Worker.run(docket_name, url, ..., until_finished=True)`` (pydocket's entry point)
    registers the named task collections and runs the docket's work to the end."""
    if target.virtual:
        pytest.skip("Worker.run keeps the system clock; the system-clock targets cover it")
    async with target.docket() as docket:
        execution = await docket.add("trace")("from Worker.run")
        await target.wait(
            Worker.run(
                docket_name=target.name,
                url=target.url,
                name="run-worker",
                until_finished=True,
                tasks=["docket.tasks:standard_tasks"],
            )
        )
        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED
        assert execution.worker == "run-worker"


async def test_an_empty_worker_name_means_the_default_name(target: Target) -> None:
    """``Worker(name="")`` is named ``hostname#pid``, as pydocket names it; a name that
    is not a string is refused, naming it."""
    async with target.docket() as docket:
        assert Worker(docket, name="").name == Worker(docket).name
        assert Worker(docket, name="").name.rpartition("#")[2].isdigit()
        with pytest.raises(TypeError, match="name.*42"):
            Worker(docket, name=42)  # type: ignore[arg-type]
