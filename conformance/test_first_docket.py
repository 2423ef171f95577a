"""The guide's "Your First Docket" and "Understanding Task Keys", on every target.

Each test follows an example of the user's guide as written, with the docket
made by the target (its name, URL and clock) instead of a fixed Redis URL.
Where the guide reads ``datetime.now(timezone.utc)`` the tests do too: that
time is "now" on the system clock and still now-or-future on a VirtualClock
started at wall time.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from conformance.conftest import Target
from docket import Disposition, Execution, ExecutionCancelled, ExecutionState, Worker

MS = timedelta(milliseconds=1)


async def test_first_docket_schedules_immediate_and_future_work(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide's first example: one call now, one tomorrow; a worker runs only the first."""

    async def send_welcome_email(customer_id: int, name: str) -> None:
        print(f"Welcome, {name}! (customer {customer_id})")

    async with target.docket() as docket:
        alice = await docket.add(send_welcome_email)(12345, "Alice")

        tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
        bob = await docket.add(send_welcome_email, when=tomorrow)(67890, "Bob")

        assert alice.disposition is Disposition.SCHEDULED
        assert bob.disposition is Disposition.SCHEDULED
        assert alice.key != bob.key
        assert alice.function is send_welcome_email
        assert alice.function_name == "send_welcome_email"
        assert (alice.args, alice.kwargs) == ((12345, "Alice"), {})
        assert (bob.args, bob.kwargs) == ((67890, "Bob"), {})
        assert abs(bob.when - tomorrow) < MS
        assert docket.tasks["send_welcome_email"] is send_welcome_email

        snapshot = await docket.snapshot()
        assert snapshot.total_tasks == 2
        assert [e.key for e in snapshot.future] == [alice.key, bob.key]
        assert snapshot.running == []

        async with target.running_worker(docket):
            await target.wait(alice.get_result())
            await bob.sync()
            assert bob.state is ExecutionState.SCHEDULED

    assert capsys.readouterr().out == "Welcome, Alice! (customer 12345)\n"


async def test_a_second_docket_with_the_same_name_and_url_shares_the_work(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    """``name`` and ``url`` together name one shared docket: a producer and a worker
    holding separate Docket objects see the same work."""

    async def send_welcome_email(customer_id: int, name: str) -> None:
        print(f"Welcome, {name}! (customer {customer_id})")

    async with target.docket() as producer, target.docket() as consumer:
        consumer.register(send_welcome_email)
        execution = await producer.add(send_welcome_email)(12345, "Alice")

        seen = await consumer.get_execution(execution.key)
        assert seen is not None
        assert seen.function_name == "send_welcome_email"
        assert (seen.args, seen.kwargs) == ((12345, "Alice"), {})

        async with Worker(consumer) as worker:
            await target.drive(worker.run_until_finished())

        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED

    assert capsys.readouterr().out == "Welcome, Alice! (customer 12345)\n"


async def test_dockets_with_different_names_do_not_share_work(target: Target) -> None:
    """Several dockets can live on one server as long as their names differ."""

    async def job() -> None:
        pass

    async with target.docket() as ours, target.docket(name=f"{target.name}-other") as theirs:
        execution = await ours.add(job)()
        assert await theirs.get_execution(execution.key) is None
        assert (await theirs.snapshot()).total_tasks == 0
        assert (await ours.snapshot()).total_tasks == 1


async def test_default_keys_are_fresh_uuids_and_each_task_runs(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide: "Each of these gets a random key and will execute independently"."""

    async def send_notification(user_id: int, message: str) -> None:
        print(f"Sending to user {user_id}: {message}")

    async with target.docket() as docket:
        executions = [
            await docket.add(send_notification)(123, "Welcome!"),
            await docket.add(send_notification)(456, "Your order shipped"),
            await docket.add(send_notification)(123, "Thank you for your purchase"),
        ]
        keys = [e.key for e in executions]
        assert len(set(keys)) == 3
        for key in keys:
            assert str(uuid.UUID(key)) == key
        assert all(e.disposition is Disposition.SCHEDULED for e in executions)

        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished())

    assert capsys.readouterr().out.splitlines() == [
        "Sending to user 123: Welcome!",
        "Sending to user 456: Your order shipped",
        "Sending to user 123: Thank you for your purchase",
    ]


async def test_a_custom_key_makes_adding_idempotent(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide: the second add with the same key is ignored; the order is processed once."""

    async def process_order(order_id: int) -> None:
        print(f"Processing order {order_id}")

    async with target.docket() as docket:
        key = f"process-order-{12345}"
        first = await docket.add(process_order, key=key)(12345)
        second = await docket.add(process_order, key=key)(12345)

        assert first.key == second.key == key
        assert first.disposition is Disposition.SCHEDULED
        assert second.disposition is Disposition.ALREADY_SCHEDULED
        assert (await docket.snapshot()).total_tasks == 1

        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    assert capsys.readouterr().out == "Processing order 12345\n"


async def test_adding_under_a_live_key_keeps_the_first_arguments(target: Target) -> None:
    """An ALREADY_SCHEDULED add changes nothing: neither arguments nor time."""
    calls: list[str] = []

    async def remember(value: str) -> None:
        calls.append(value)

    async with target.docket() as docket:
        later = target.later(timedelta(hours=1))
        await docket.add(remember, key="k", when=later)("first")
        ignored = await docket.add(remember, key="k")("second")
        assert ignored.disposition is Disposition.ALREADY_SCHEDULED

        stored = await docket.get_execution("k")
        assert stored is not None
        assert stored.args == ("first",)
        assert stored.state is ExecutionState.SCHEDULED
        assert abs(stored.when - later) < MS


async def test_replace_moves_future_work_and_cancel_removes_it(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide's reminder: schedule next week, replace for next month, then cancel."""

    async def send_reminder(customer_id: int, message: str) -> None:
        print(f"Reminder for {customer_id}: {message}")

    customer_id = 4242
    async with target.docket() as docket:
        key = f"reminder-{customer_id}"

        next_week = datetime.now(timezone.utc) + timedelta(days=7)
        added = await docket.add(send_reminder, when=next_week, key=key)(
            customer_id, "Your trial expires soon"
        )
        assert added.disposition is Disposition.SCHEDULED

        next_month = datetime.now(timezone.utc) + timedelta(days=30)
        replaced = await docket.replace(send_reminder, when=next_month, key=key)(
            customer_id, "Thanks for upgrading!"
        )
        assert replaced.disposition is Disposition.SCHEDULED
        assert replaced.key == key

        stored = await docket.get_execution(key)
        assert stored is not None
        assert stored.state is ExecutionState.SCHEDULED
        assert abs(stored.when - next_month) < MS
        assert stored.args == (customer_id, "Thanks for upgrading!")
        snapshot = await docket.snapshot()
        assert [e.key for e in snapshot.future] == [key]

        await docket.cancel(key)

        stored = await docket.get_execution(key)
        assert stored is not None
        assert stored.state is ExecutionState.CANCELLED
        assert (await docket.snapshot()).total_tasks == 0
        with pytest.raises(ExecutionCancelled):
            await target.wait(replaced.get_result())

        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    assert capsys.readouterr().out == ""


async def test_replace_of_nothing_schedules(target: Target) -> None:
    """``replace`` on a key with no live work simply schedules it."""

    async def job(n: int) -> int:
        return n

    async with target.docket() as docket:
        execution = await docket.replace(job, when=target.now(), key="fresh")(7)
        assert execution.disposition is Disposition.SCHEDULED
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(execution.get_result()) == 7


async def test_replace_swaps_queued_work_which_then_runs_once(target: Target) -> None:
    """Replacing work that is already due swaps it: only the replacement runs."""
    calls: list[str] = []

    async def job(label: str) -> None:
        calls.append(label)

    async with target.docket() as docket:
        await docket.add(job, key="swap")("old")
        replacement = await docket.replace(job, when=target.now(), key="swap")("new")
        assert (await docket.snapshot()).total_tasks == 1

        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

        await replacement.sync()
        assert replacement.state is ExecutionState.COMPLETED
    assert calls == ["new"]


async def test_a_key_can_be_reused_once_its_work_has_ended(target: Target) -> None:
    """A key is live only while scheduled, queued or running; afterwards it is free again."""
    calls: list[int] = []

    async def job(n: int) -> None:
        calls.append(n)

    async with target.docket() as docket:
        first = await docket.add(job, key="again")(1)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await first.sync()
        assert first.state is ExecutionState.COMPLETED

        second = await docket.add(job, key="again")(2)
        assert second.disposition is Disposition.SCHEDULED
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

        cancelled = await docket.add(job, key="again", when=target.later(timedelta(hours=1)))(3)
        assert cancelled.disposition is Disposition.SCHEDULED
        await docket.cancel("again")
        third = await docket.add(job, key="again")(4)
        assert third.disposition is Disposition.SCHEDULED
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    assert calls == [1, 2, 4]


async def test_future_work_runs_once_its_time_comes(target: Target) -> None:
    """Work added for a moment ahead waits for it, then runs."""
    calls: list[datetime] = []

    async def job() -> None:
        calls.append(target.now())

    async with target.docket() as docket:
        when = target.later(0.3)
        execution = await docket.add(job, when=when)()
        assert execution.disposition is Disposition.SCHEDULED
        await execution.sync()
        assert execution.state is ExecutionState.SCHEDULED

        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.1)

        assert len(calls) == 1
        assert calls[0] >= when - MS
        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED


async def test_execution_fields_after_add(target: Target) -> None:
    """What ``add`` hands back describes the call it scheduled."""

    async def job(a: int, *, b: str) -> None:
        pass

    async with target.docket() as docket:
        when = target.later(timedelta(minutes=5))
        execution = await docket.add(job, when=when, key="fields")(1, b="two")
        assert isinstance(execution, Execution)
        assert execution.key == "fields"
        assert execution.function is job
        assert execution.function_name == "job"
        assert execution.args == (1,)
        assert execution.kwargs == {"b": "two"}
        assert abs(execution.when - when) < MS
        assert execution.when.tzinfo is not None
        assert execution.attempt == 1
        assert execution.state is ExecutionState.SCHEDULED
        assert execution.disposition is Disposition.SCHEDULED

        immediate = await docket.add(job)(2, b="three")
        assert immediate.state is ExecutionState.QUEUED
        assert immediate.when <= target.now()


async def test_register_collection_registers_every_task_of_a_module_attribute(
    target: Target,
) -> None:
    """``register_collection("module:attribute")`` registers each task in that iterable;
    a malformed path or a missing attribute is refused, naming it."""
    async with target.docket() as docket:
        docket.tasks.clear()  # the built-ins are registered on every docket
        docket.register_collection("docket.tasks:standard_tasks")
        assert set(docket.tasks) == {"trace", "fail", "sleep"}
        execution = await docket.add("trace")("registered")
        assert execution.function_name == "trace"
        with pytest.raises(ValueError, match="collection_path.*'no-colon'"):
            docket.register_collection("no-colon")
        with pytest.raises(ValueError, match="no attribute 'missing'"):
            docket.register_collection("docket.tasks:missing")
