"""The getting-started guide's "Task Observability" examples, as written, on every target.

"Execution State" (``sync()`` then ``execution.state``), "Progress
Reporting" (``import_records`` with ``Progress()``, watched programmatically)
and "Task Results" (``calculate_total`` with ``get_result()``).  The guide
leaves ``load_records``, ``process_record`` and ``fetch_order_items`` to the
reader; they are supplied here.  Waits are wrapped in ``target.wait`` only as
hang guards.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from conformance.conftest import Target
from docket import ExecutionState, Progress
from docket.execution import ExecutionProgress

# -- helpers the guide assumes ---------------------------------------------

RECORDS: dict[str, list[dict[str, object]]] = {
    "customers.csv": [{"id": n, "name": f"customer {n}"} for n in range(1, 8)],
}
PROCESSED: list[dict[str, object]] = []


async def load_records(file_path: str) -> list[dict[str, object]]:
    await asyncio.sleep(0)
    return list(RECORDS[file_path])


async def process_record(record: dict[str, object]) -> None:
    await asyncio.sleep(0)
    PROCESSED.append(record)


@dataclass(frozen=True)
class OrderItem:
    name: str
    price: float


async def fetch_order_items(order_id: int) -> list[OrderItem]:
    await asyncio.sleep(0)
    return [OrderItem("kettle", 19.99), OrderItem("tea", 5.01), OrderItem("cups", 75.00)]


# -- the guide's tasks, verbatim ---------------------------------------------


async def process_order(order_id: int) -> None:
    print(f"Processing order {order_id}")


async def import_records(file_path: str, progress: ExecutionProgress = Progress()) -> None:
    records = await load_records(file_path)
    await progress.set_total(len(records))

    for record in records:
        await process_record(record)
        await progress.increment()


async def calculate_total(order_id: int) -> float:
    items = await fetch_order_items(order_id)
    return sum(item.price for item in items)


# -- the examples ------------------------------------------------------------


async def test_execution_state(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    """ "Execution State": a freshly added task is QUEUED; after its run, COMPLETED."""
    async with target.docket() as docket:
        execution = await docket.add(process_order)(order_id=12345)

        # Check the current state
        await execution.sync()
        print(f"Task state: {execution.state}")

        assert capsys.readouterr().out == f"Task state: {ExecutionState.QUEUED}\n"
        assert execution.state is ExecutionState.QUEUED

        async with target.running_worker(docket):
            await target.wait(execution.get_result())
        await execution.sync()
        print(f"Task state: {execution.state}")

    out = capsys.readouterr().out
    assert out == f"Processing order 12345\nTask state: {ExecutionState.COMPLETED}\n"
    final: ExecutionState = execution.state  # (re-read: sync() changed it)
    assert final is ExecutionState.COMPLETED
    assert execution.started_at is not None and execution.completed_at is not None


async def test_progress_reporting(target: Target) -> None:
    """ "Progress Reporting": a watcher sees the import advance to its total, record by record."""
    PROCESSED.clear()
    async with target.docket() as docket:
        execution = await docket.add(import_records)("customers.csv")

        seen: list[tuple[int | None, int]] = []
        states: list[ExecutionState] = []

        async def watch() -> None:
            async for event in execution.subscribe():
                if event["type"] == "progress":
                    seen.append((event["current"], event["total"]))
                else:
                    states.append(ExecutionState(event["state"]))

        watcher = asyncio.create_task(watch())
        await target.eventually(lambda: len(states) >= 1 and len(seen) >= 1, what="watching")

        async with target.running_worker(docket):
            await target.wait(execution.get_result())
            await target.wait(watcher)

    total = len(RECORDS["customers.csv"])
    assert seen == [(None, 100), (0, total)] + [(n, total) for n in range(1, total + 1)]
    assert states[0] is ExecutionState.QUEUED and states[-1] is ExecutionState.COMPLETED
    assert PROCESSED == RECORDS["customers.csv"]


async def test_task_results(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    """ "Task Results": schedule, ``await execution.get_result()``, print the total."""
    async with target.docket() as docket:
        async with target.running_worker(docket):
            # Schedule and retrieve the result
            execution = await docket.add(calculate_total)(order_id=12345)
            total = await target.wait(execution.get_result())  # Waits for completion if needed
            print(f"Order total: ${total:.2f}")

    assert capsys.readouterr().out == "Order total: $100.00\n"
    assert isinstance(total, float)
