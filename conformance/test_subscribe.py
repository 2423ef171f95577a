"""Execution events: ``execution.subscribe()`` and how ``get_result()`` waits.

Pinned here: ``subscribe()`` yields pydocket's dict events: first a state event
(``{"type": "state", "key", "state", "when", "worker", "started_at",
"completed_at", "error"}``) with the current state and a progress event
(``{"type": "progress", "key", "current", "total", "message", "updated_at"}``)
with the current progress, then every change as it happens, and ends after the
terminal state event, even when the caller ``sync()``s between events.  It subscribes before
it reads, so a subscriber started before the worker sees every progress
value and the end.  ``get_result()`` waits on those events, not by polling the
clock: on a VirtualClock that never moves it still returns once the work
ends.  With ``execution_ttl=timedelta(0)`` neither ``get_result()`` nor
``subscribe()`` of finished work may hang (pydocket's trap 5).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from conformance.conftest import Target
from docket import Execution, ExecutionState, Progress, Retry, Worker
from docket.execution import ExecutionProgress, ProgressEvent, StateEvent

Event = StateEvent | ProgressEvent


@contextmanager
def releasing(
    *gates: asyncio.Event, cancel: tuple[asyncio.Task[object], ...] = ()
) -> Iterator[None]:
    """Open every gate (and cancel every waiter still pending) on the way out, so
    that a failed assertion never leaves a run blocked (and the worker's exit
    waiting on it) nor a waiter outliving its docket."""
    try:
        yield
    finally:
        for gate in gates:
            gate.set()
        for task in cancel:
            if not task.done():
                task.cancel()


HANG_GUARD = 2.0
"""Real seconds after which a read of finished work counts as hung (a guard, not a timing)."""


class Listener:
    """Collects one execution's events in a background task.

    ``ready`` is set once the two opening events have arrived, i.e. once the
    subscription is certainly in place.
    """

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.events: list[Event] = []
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        stream: AsyncIterator[Event] = self.execution.subscribe()
        async for event in stream:
            self.events.append(event)
            if len(self.events) >= 2:
                self.ready.set()
        self.ready.set()

    def states(self) -> list[ExecutionState]:
        return [ExecutionState(e["state"]) for e in self.events if e["type"] == "state"]

    def progress(self) -> list[tuple[int | None, int, str | None]]:
        return [
            (e["current"], e["total"], e["message"]) for e in self.events if e["type"] == "progress"
        ]


async def test_a_subscriber_started_before_the_worker_sees_every_progress_value(
    target: Target,
) -> None:
    """DONE-WHEN of issue 3: every progress value and the terminal state, in order."""

    async def count_up(steps: int, progress: ExecutionProgress = Progress()) -> int:
        await progress.set_total(steps)
        for step in range(steps):
            await progress.set_message(f"step {step + 1}")
            await progress.increment()
        return steps

    async with target.docket() as docket:
        execution = await docket.add(count_up)(5)
        listener = Listener(execution)
        await target.wait(listener.ready.wait())
        assert listener.events[:2] == [
            {
                "type": "state",
                "key": execution.key,
                "state": ExecutionState.QUEUED,
                "when": execution.when.isoformat(),
                "worker": None,
                "started_at": None,
                "completed_at": None,
                "error": None,
            },
            {
                "type": "progress",
                "key": execution.key,
                "current": None,
                "total": 100,
                "message": None,
                "updated_at": None,
            },
        ]

        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await target.wait(listener.task)

    expected_progress: list[tuple[int | None, int, str | None]] = [(None, 100, None), (0, 5, None)]
    for step in range(5):
        expected_progress.append((step, 5, f"step {step + 1}"))
        expected_progress.append((step + 1, 5, f"step {step + 1}"))
    assert listener.progress() == expected_progress

    states = listener.states()
    assert states[0] is ExecutionState.QUEUED
    assert states[-1] is ExecutionState.COMPLETED
    assert ExecutionState.RUNNING in states
    last = listener.events[-1]
    assert last["type"] == "state" and last["state"] == ExecutionState.COMPLETED
    assert last["started_at"] is not None and last["completed_at"] is not None
    # Every progress event of the run comes after RUNNING and before COMPLETED.
    running_at = next(
        i
        for i, e in enumerate(listener.events)
        if e["type"] == "state" and e["state"] == ExecutionState.RUNNING
    )
    running = listener.events[running_at]
    assert running["type"] == "state" and running["worker"] is not None
    assert running["started_at"] is not None and running["completed_at"] is None
    live_progress = [
        i for i, e in enumerate(listener.events[2:], start=2) if e["type"] == "progress"
    ]
    assert live_progress and min(live_progress) > running_at
    # The subscription updates the execution it belongs to.
    assert execution.state is ExecutionState.COMPLETED
    assert await target.wait(execution.get_result()) == 5


async def test_subscribing_to_finished_work_yields_its_state_and_ends(target: Target) -> None:
    """The opening events describe the end; nothing else follows."""

    async def quick() -> str:
        return "done"

    async with target.docket() as docket:
        execution = await docket.add(quick)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        listener = Listener(execution)
        await target.wait(listener.task)

    assert len(listener.events) == 2
    first, second = listener.events
    assert first["type"] == "state" and first["state"] == ExecutionState.COMPLETED
    assert first["key"] == execution.key
    assert second["type"] == "progress" and second["key"] == execution.key


async def test_a_subscriber_sees_scheduled_work_through_to_failure(target: Target) -> None:
    """Future work: SCHEDULED first, FAILED (with the error) last."""

    async def doomed() -> None:
        raise LookupError("no such order")

    async with target.docket() as docket:
        execution = await docket.add(doomed, when=target.later(0.2))()
        listener = Listener(execution)
        await target.wait(listener.ready.wait())
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await target.wait(listener.task)

    states = listener.states()
    assert states[0] is ExecutionState.SCHEDULED
    assert ExecutionState.RUNNING in states
    last = listener.events[-1]
    assert last["type"] == "state"
    assert last["state"] == ExecutionState.FAILED
    assert last["error"] is not None and "no such order" in last["error"]
    assert listener.states().count(ExecutionState.FAILED) == 1


async def test_a_subscriber_follows_retries_to_the_final_outcome(target: Target) -> None:
    """A failed attempt that will be retried is not the end of the stream."""
    attempts: list[int] = []

    async def wobbly(
        progress: ExecutionProgress = Progress(),
        retry: Retry = Retry(attempts=3, delay=timedelta(0)),
    ) -> int:
        attempts.append(retry.attempt)
        await progress.set_message(f"attempt {retry.attempt}")
        if retry.attempt < 3:
            raise RuntimeError("not yet")
        return retry.attempt

    async with target.docket() as docket:
        execution = await docket.add(wobbly)()
        listener = Listener(execution)
        await target.wait(listener.ready.wait())
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await target.wait(listener.task)
        assert await target.wait(execution.get_result()) == 3

    assert attempts == [1, 2, 3]
    states = listener.states()
    assert states.count(ExecutionState.RUNNING) == 3
    assert ExecutionState.FAILED not in states
    assert states[-1] is ExecutionState.COMPLETED
    messages = [m for _, _, m in listener.progress() if m is not None]
    assert [m for i, m in enumerate(messages) if i == 0 or messages[i - 1] != m] == [
        "attempt 1",
        "attempt 2",
        "attempt 3",
    ]


async def test_a_subscriber_sees_cancellation(target: Target) -> None:
    """Cancelling future work ends its subscribers with CANCELLED."""

    async def never() -> None:
        return None

    async with target.docket() as docket:
        execution = await docket.add(never, when=target.later(3600), key="to-cancel")()
        listener = Listener(execution)
        await target.wait(listener.ready.wait())
        await docket.cancel("to-cancel")
        await target.wait(listener.task)

    assert listener.states() == [ExecutionState.SCHEDULED, ExecutionState.CANCELLED]


async def test_two_subscribers_each_see_everything(target: Target) -> None:
    """Events are broadcast, not shared out between subscribers."""

    async def steps(progress: ExecutionProgress = Progress()) -> None:
        await progress.set_total(3)
        for _ in range(3):
            await progress.increment()

    async with target.docket() as docket:
        execution = await docket.add(steps)()
        other = await docket.get_execution(execution.key)
        assert other is not None
        first, second = Listener(execution), Listener(other)
        await target.wait(first.ready.wait())
        await target.wait(second.ready.wait())
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await target.wait(first.task)
        await target.wait(second.task)

    assert first.progress() == second.progress()
    assert [c for c, _, _ in first.progress()] == [None, 0, 1, 2, 3]
    assert first.states()[-1] is second.states()[-1] is ExecutionState.COMPLETED


async def test_get_result_waits_on_events_not_on_the_clock(target: Target) -> None:
    """A waiter started before the worker returns without the clock being moved.

    On a VirtualClock nothing here advances time, so a waiter that polled on
    the docket's clock would never wake.
    """
    release = asyncio.Event()

    async def gated() -> str:
        await release.wait()
        return "opened"

    async with target.docket() as docket:
        execution = await docket.add(gated)()
        waiter: asyncio.Task[object] = asyncio.create_task(execution.get_result())
        async with target.running_worker(docket):
            with releasing(release, cancel=(waiter,)):
                await target.eventually(
                    lambda: _state_is(docket, execution.key, ExecutionState.RUNNING),
                    what="the task running",
                )
                assert not waiter.done()
                release.set()
                assert await target.wait(waiter) == "opened"


async def _state_is(docket: object, key: str, state: ExecutionState) -> bool:
    execution = await docket.get_execution(key)  # type: ignore[attr-defined]
    return execution is not None and execution.state is state


async def test_get_result_never_misses_an_end_during_the_hand_over(target: Target) -> None:
    """Many waiters start while their work is finishing; each gets its result.

    A waiter that read the state before subscribing could miss an end that
    fell in between and hang (pydocket's trap 5).
    """

    async def echo(n: int) -> int:
        await asyncio.sleep(0)
        return n * 10

    count = 40
    async with target.docket() as docket:
        async with target.running_worker(docket, concurrency=8):
            executions = []
            for n in range(count):
                executions.append(await docket.add(echo)(n))
            waiters = [asyncio.create_task(e.get_result()) for e in executions]
            results = await target.wait(asyncio.gather(*waiters))
    assert results == [n * 10 for n in range(count)]


async def test_subscriptions_never_miss_an_end_during_the_hand_over(target: Target) -> None:
    """Subscribers started while their work is finishing all see a terminal state."""

    async def echo(n: int) -> int:
        await asyncio.sleep(0)
        return n

    count = 30
    async with target.docket() as docket:
        async with target.running_worker(docket, concurrency=8):
            listeners = []
            for n in range(count):
                listeners.append(Listener(await docket.add(echo)(n)))
            await target.wait(asyncio.gather(*(listener.task for listener in listeners)))
    for listener in listeners:
        assert listener.states()[-1] is ExecutionState.COMPLETED


@pytest.mark.parametrize("outcome", ["completed", "failed"])
async def test_get_result_with_zero_ttl_ends_for_a_waiter_already_waiting(
    target: Target, outcome: str
) -> None:
    """With ``execution_ttl=0`` the record is gone at the end; the waiter still wakes."""
    release = asyncio.Event()

    async def brief() -> str:
        await release.wait()
        if outcome == "failed":
            raise ValueError("broken")
        return "finished"

    async with target.docket(execution_ttl=timedelta(0)) as docket:
        execution = await docket.add(brief)()
        waiter: asyncio.Task[object] = asyncio.create_task(execution.get_result())
        async with target.running_worker(docket):
            with releasing(release, cancel=(waiter,)):
                await target.eventually(
                    lambda: _state_is(docket, execution.key, ExecutionState.RUNNING),
                    what="the task running",
                )
                release.set()
                done, _ = await target.wait(asyncio.wait({waiter}))
    assert waiter in done
    if outcome == "completed":
        assert waiter.exception() is None
        assert execution.state is ExecutionState.COMPLETED
    else:
        assert waiter.exception() is not None
        assert not isinstance(waiter.exception(), TimeoutError)
        assert execution.state is ExecutionState.FAILED


async def test_get_result_with_zero_ttl_does_not_hang_after_the_end(target: Target) -> None:
    """``get_result()`` called once zero-TTL work has already ended must return or raise.

    The record is gone by then, so the value cannot come back; but waiting
    forever (or until a timeout) for an end that already happened is the
    trap.  Nothing here moves a virtual clock.
    """

    async def brief() -> str:
        return "finished"

    async with target.docket(execution_ttl=timedelta(0)) as docket:
        execution = await docket.add(brief)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        outcome = asyncio.ensure_future(execution.get_result())
        done, _ = await asyncio.wait({outcome}, timeout=HANG_GUARD)
        if not done:
            outcome.cancel()
            await asyncio.gather(outcome, return_exceptions=True)
            pytest.fail(
                f"[{target.id}] get_result() of finished work with execution_ttl=0 hangs "
                f"(local state {execution.state})"
            )
        error = outcome.exception()
        assert not isinstance(error, TimeoutError), error


async def test_subscribe_with_zero_ttl_does_not_hang_after_the_end(target: Target) -> None:
    """``subscribe()`` of zero-TTL work that already ended must end too."""

    async def brief() -> str:
        return "finished"

    async with target.docket(execution_ttl=timedelta(0)) as docket:
        execution = await docket.add(brief)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        listener = Listener(execution)
        done, _ = await asyncio.wait({listener.task}, timeout=HANG_GUARD)
        if not done:
            listener.task.cancel()
            await asyncio.gather(listener.task, return_exceptions=True)
            pytest.fail(
                f"[{target.id}] subscribe() of finished work with execution_ttl=0 never ends "
                f"(events so far: {listener.events})"
            )


async def test_a_subscriber_that_syncs_between_events_still_gets_the_end(target: Target) -> None:
    """fastmcp calls ``execution.sync()`` on each progress event; the stream must
    still run to its terminal state event rather than end early."""
    step = asyncio.Event()
    finish = asyncio.Event()

    async def slow(progress: ExecutionProgress = Progress()) -> str:
        await progress.set_message("started")
        await step.wait()
        await progress.set_message("nearly")
        await finish.wait()
        return "done"

    async with target.docket() as docket:
        execution = await docket.add(slow)()
        seen: list[str] = []

        async def follow() -> None:
            async for event in execution.subscribe():
                seen.append(str(event["state"]) if event["type"] == "state" else "progress")
                await execution.sync()  # moves the execution's own view on
                if event["type"] == "progress" and event["message"] == "started":
                    step.set()
                if event["type"] == "progress" and event["message"] == "nearly":
                    finish.set()

        follower = asyncio.create_task(follow())
        async with target.running_worker(docket):
            with releasing(step, finish, cancel=(follower,)):
                await target.wait(follower)
    assert seen[-1] == "completed"
    assert "running" in seen


async def test_subscribe_sets_ready_once_subscribed(target: Target) -> None:
    """``subscribe(ready=event)``: once ``ready`` is set, no later change is missed."""
    release = asyncio.Event()

    async def gated() -> str:
        await release.wait()
        return "opened"

    async with target.docket() as docket:
        execution = await docket.add(gated, when=target.later(0.1))()
        ready = asyncio.Event()
        events: list[Event] = []

        async def follow() -> None:
            async for event in execution.subscribe(ready=ready):
                events.append(event)

        follower = asyncio.create_task(follow())
        await target.wait(ready.wait())
        async with target.running_worker(docket):
            with releasing(release, cancel=(follower,)):
                release.set()
                await target.drive(follower)
    states = [ExecutionState(e["state"]) for e in events if e["type"] == "state"]
    assert states[0] is ExecutionState.SCHEDULED
    assert states[-1] is ExecutionState.COMPLETED
