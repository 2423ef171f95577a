"""Task results and execution state: ``get_result``, ``sync``, ``get_execution``.

Pinned here: ``get_result()`` waits for the end and returns the task's value,
re-raises the task's own exception, raises ``ExecutionCancelled`` for
cancelled work and ``TimeoutError`` when its ``timeout``/``deadline`` passes
first on the docket's clock.  ``sync()`` follows the state through
SCHEDULED -> QUEUED -> RUNNING -> COMPLETED | FAILED, with ``worker``,
``started_at`` and ``completed_at`` filled in as they become known.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest

from conformance.conftest import Target, release_on_exit
from docket import ExecutionCancelled, ExecutionState, Worker


@dataclass(frozen=True)
class Receipt:
    """A non-trivial result value: it must come back equal, not just truthy."""

    order_id: int
    total: float
    items: tuple[str, ...]


class PaymentDeclined(Exception):
    """A task's own exception type, which get_result must re-raise as is."""

    def __init__(self, order_id: int, reason: str) -> None:
        super().__init__(order_id, reason)
        self.order_id = order_id
        self.reason = reason


async def test_get_result_returns_the_value_as_in_the_guide(target: Target) -> None:
    """The guide's ``calculate_total``: schedule, then ``await execution.get_result()``."""

    async def fetch_order_items(order_id: int) -> list[float]:
        return [19.99, 5.01, 75.0]

    async def calculate_total(order_id: int) -> float:
        items = await fetch_order_items(order_id)
        return sum(items)

    async with target.docket() as docket:
        async with target.running_worker(docket):
            execution = await docket.add(calculate_total)(order_id=12345)
            total = await target.wait(execution.get_result())  # Waits for completion if needed
        assert f"Order total: ${total:.2f}" == "Order total: $100.00"
        assert execution.state is ExecutionState.COMPLETED


async def test_get_result_returns_rich_values_and_none(target: Target) -> None:
    """Values round-trip through storage intact; a task without a return gives None."""

    async def receipt(order_id: int) -> Receipt:
        return Receipt(order_id, 12.5, ("tea", "cake"))

    async def nothing() -> None:
        return None

    async def sync_value(x: int) -> dict[str, list[int]]:
        return {"x": [x, x + 1]}

    async with target.docket() as docket:
        r = await docket.add(receipt)(7)
        n = await docket.add(nothing)()
        s = await docket.add(sync_value)(3)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(r.get_result()) == Receipt(7, 12.5, ("tea", "cake"))
        assert await target.wait(n.get_result()) is None
        assert await target.wait(s.get_result()) == {"x": [3, 4]}


async def test_get_result_from_a_fresh_lookup(target: Target) -> None:
    """An execution read back with ``get_execution`` yields the same result."""

    async def answer() -> int:
        return 42

    async with target.docket() as docket:
        execution = await docket.add(answer, key="the-answer")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

        async with target.docket() as other:
            found = await other.get_execution("the-answer")
            assert found is not None
            assert found.state is ExecutionState.COMPLETED
            assert await target.wait(found.get_result()) == 42
        assert await target.wait(execution.get_result()) == 42


async def test_get_result_reraises_the_tasks_exception(target: Target) -> None:
    """A failed task's own exception, with its attributes, comes out of get_result."""

    async def charge(order_id: int) -> None:
        raise PaymentDeclined(order_id, "insufficient funds")

    async with target.docket() as docket:
        execution = await docket.add(charge)(99)
        async with target.running_worker(docket):
            with pytest.raises(PaymentDeclined) as raised:
                await target.wait(execution.get_result())
        assert raised.value.order_id == 99
        assert raised.value.reason == "insufficient funds"
        assert execution.state is ExecutionState.FAILED


async def test_get_result_of_cancelled_work_raises_execution_cancelled(target: Target) -> None:
    """Cancelled work has no result: ExecutionCancelled, for waiters before and after."""

    async def never() -> None:
        raise AssertionError("cancelled work ran")

    async with target.docket() as docket:
        execution = await docket.add(never, when=target.later(timedelta(hours=1)))()
        waiter = asyncio.create_task(execution.get_result())
        await target.settle()
        assert not waiter.done()

        await docket.cancel(execution.key)
        with pytest.raises(ExecutionCancelled):
            await target.wait(waiter)
        with pytest.raises(ExecutionCancelled):
            await target.wait(execution.get_result())
        assert execution.state is ExecutionState.CANCELLED


async def test_get_result_times_out_on_the_docket_clock(target: Target) -> None:
    """``timeout`` passes on the docket's clock; a VirtualClock must be advanced for it."""

    async def job() -> None:
        pass

    async with target.docket() as docket:
        execution = await docket.add(job)()  # no worker: it never ends
        with pytest.raises(TimeoutError):
            await target.drive(execution.get_result(timeout=timedelta(seconds=0.2)), step=0.1)
        await execution.sync()
        assert execution.state is ExecutionState.QUEUED


async def test_get_result_deadline(target: Target) -> None:
    """``deadline`` is an aware datetime on the docket's clock."""

    async def job() -> None:
        pass

    async with target.docket() as docket:
        execution = await docket.add(job, when=target.later(timedelta(hours=1)))()
        with pytest.raises(TimeoutError):
            await target.drive(execution.get_result(deadline=target.later(0.2)), step=0.1)


async def test_get_result_on_a_virtual_clock_does_not_time_out_by_itself(
    target: Target,
) -> None:
    """On a VirtualClock a timeout only passes when the clock moves (system clock: it does)."""
    if not target.virtual:
        pytest.skip("only a VirtualClock can stand still")

    async def job() -> None:
        pass

    async with target.docket() as docket:
        execution = await docket.add(job)()
        waiter = asyncio.create_task(execution.get_result(timeout=timedelta(seconds=1)))
        await asyncio.sleep(0.05)  # real time passes, virtual time does not
        assert not waiter.done()
        await target.elapse(timedelta(seconds=1))
        with pytest.raises(TimeoutError):
            await target.wait(waiter)


async def test_get_result_with_a_timeout_returns_when_work_ends_first(target: Target) -> None:
    """A timeout that does not pass changes nothing."""

    async def job() -> str:
        return "in time"

    async with target.docket() as docket:
        execution = await docket.add(job)()
        async with target.running_worker(docket):
            result = await target.wait(execution.get_result(timeout=timedelta(hours=1)))
        assert result == "in time"


async def test_sync_follows_the_state_through_a_run(target: Target) -> None:
    """The guide's "Execution State": SCHEDULED, QUEUED, RUNNING, COMPLETED."""
    started = asyncio.Event()
    release = asyncio.Event()

    async def process_order(order_id: int) -> None:
        started.set()
        await release.wait()

    async with target.docket() as docket:
        execution = await docket.add(process_order, when=target.later(0.2))(order_id=12345)
        await execution.sync()
        assert execution.state is ExecutionState.SCHEDULED
        assert execution.worker is None
        assert execution.started_at is None

        await target.elapse(0.3)
        await execution.sync()  # due, but no worker has claimed it
        assert execution.state in (ExecutionState.SCHEDULED, ExecutionState.QUEUED)

        async with target.running_worker(docket, name="observer") as worker:
            with release_on_exit(release):
                await target.wait(started.wait())
                await execution.sync()
                assert execution.state is ExecutionState.RUNNING
                assert execution.worker == worker.name
                assert execution.started_at is not None
                assert execution.completed_at is None

            await target.wait(execution.get_result())

        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED
        assert execution.worker == "observer"
        assert execution.started_at is not None
        assert execution.completed_at is not None
        assert execution.completed_at >= execution.started_at
        assert execution.error is None


async def test_immediate_work_is_queued(target: Target) -> None:
    """Work added with no ``when`` is QUEUED straight away."""

    async def process_order(order_id: int) -> None:
        pass

    async with target.docket() as docket:
        execution = await docket.add(process_order)(order_id=12345)
        await execution.sync()
        assert execution.state is ExecutionState.QUEUED


async def test_get_execution_of_an_unknown_key_is_none(target: Target) -> None:
    """Nothing under the key: ``get_execution`` returns None."""
    async with target.docket() as docket:
        assert await docket.get_execution("never-added") is None


async def test_get_execution_describes_the_stored_call(target: Target) -> None:
    """A fresh lookup reads back name, arguments, time and state."""

    async def job(a: int, b: str = "x", *, c: float = 0.0) -> None:
        pass

    async with target.docket() as docket:
        when = target.later(timedelta(minutes=3))
        await docket.add(job, when=when, key="lookup")(1, "two", c=3.5)

        found = await docket.get_execution("lookup")
        assert found is not None
        assert found.key == "lookup"
        assert found.function is job
        assert found.function_name == "job"
        assert found.args == (1, "two")
        assert found.kwargs == {"c": 3.5}
        assert abs(found.when - when) < timedelta(milliseconds=1)
        assert found.attempt == 1
        assert found.state is ExecutionState.SCHEDULED


async def test_cancel_works_on_queued_unclaimed_work(target: Target) -> None:
    """Due work no worker has claimed yet can still be cancelled; it never runs."""
    calls: list[str] = []

    async def job() -> None:
        calls.append("ran")

    async with target.docket() as docket:
        execution = await docket.add(job)()
        await docket.cancel(execution.key)
        await execution.sync()
        assert execution.state is ExecutionState.CANCELLED
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert calls == []


async def test_cancel_is_idempotent_and_ignores_unknown_keys(target: Target) -> None:
    """Cancelling twice, or a key that never existed, raises nothing and changes nothing."""

    async def job() -> None:
        pass

    async with target.docket() as docket:
        execution = await docket.add(job, when=target.later(timedelta(hours=1)))()
        await docket.cancel(execution.key)
        await execution.sync()
        first_completed_at = execution.completed_at
        await docket.cancel(execution.key)
        await docket.cancel("no-such-key")
        await execution.sync()
        assert execution.state is ExecutionState.CANCELLED
        assert execution.completed_at == first_completed_at
        assert await docket.get_execution("no-such-key") is None


async def test_clear_cancels_all_pending_work(target: Target) -> None:
    """``clear()`` drops scheduled and queued work and says how much."""

    async def job(n: int) -> None:
        pass

    async with target.docket() as docket:
        queued = [await docket.add(job)(n) for n in range(3)]
        future = [await docket.add(job, when=target.later(timedelta(hours=1)))(n) for n in range(2)]
        assert (await docket.snapshot()).total_tasks == 5

        assert await docket.clear() == 5
        assert (await docket.snapshot()).total_tasks == 0
        for execution in queued + future:
            await execution.sync()
            assert execution.state is ExecutionState.CANCELLED
        assert await docket.clear() == 0


class DictStore:
    """A py-key-value style store (``put``/``get`` with a ttl) kept in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[dict[str, str], float | None]] = {}
        self.ready = False

    async def setup(self) -> None:
        self.ready = True

    async def put(
        self,
        key: str,
        value: dict[str, str],
        *,
        collection: str | None = None,
        ttl: float | None = None,
    ) -> None:
        self.data[key] = (value, ttl)

    async def get(self, key: str, *, collection: str | None = None) -> dict[str, str] | None:
        found = self.data.get(key)
        return None if found is None else found[0]


async def test_results_go_to_the_result_storage_given_to_the_docket(target: Target) -> None:
    """``Docket(result_storage=store)``: values and final exceptions are put in the store
    under ``key:generation`` for ``execution_ttl`` and ``get_result`` reads them there."""
    store = DictStore()

    async def total(order_id: int) -> Receipt:
        return Receipt(order_id, 100.0, ("book",))

    async def decline(order_id: int) -> None:
        raise PaymentDeclined(order_id, "insufficient funds")

    ttl = timedelta(minutes=10)
    async with target.docket(result_storage=store, execution_ttl=ttl) as docket:
        assert store.ready
        paid = await docket.add(total)(7)
        declined = await docket.add(decline)(8)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(paid.get_result()) == Receipt(7, 100.0, ("book",))
        with pytest.raises(PaymentDeclined):
            await target.wait(declined.get_result())
        assert set(store.data) == {
            f"{paid.key}:{paid.generation}",
            f"{declined.key}:{declined.generation}",
        }
        assert {ttl_seconds for _, ttl_seconds in store.data.values()} == {600.0}
        # Another handle on the same key reads the value from the store as well.
        again = await docket.get_execution(paid.key)
        assert again is not None
        assert await target.wait(again.get_result()) == Receipt(7, 100.0, ("book",))
