"""README.md's example and every python block of docs/getting-started.md run as written.

The README's example is a whole program, run in a fresh interpreter.  The guide's
examples use top-level ``await``, as in ``python -m asyncio``, and the imports of one
carry over to the next, as in one REPL session; each runs here the same way, on a real redis-server: the guide's ``redis://localhost:6379/0`` and ``Docket()``
become this suite's throwaway server (and a docket name of the test's own).  Names an
example leaves to the reader (``app``, ``http_client``, ``load_records`` ...) are
supplied by the check for that example, which then looks at what the example did.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from docs_blocks import Block, blocks, run_program
from fastapi import FastAPI

from docket import Docket, ExecutionState, VirtualClock, Worker

GUIDE = "docs/getting-started.md"
RUNS_DOCS_PAGES = ("README.md", GUIDE)


@dataclass
class Session:
    """Where one example runs: a docket name of its own on the suite's redis-server."""

    url: str
    name: str
    capsys: pytest.CaptureFixture[str]
    tmp_path: Path

    def docket(self, **options: Any) -> Docket:
        return Docket(self.name, self.url, **options)

    async def run(self, block: Block, **given: Any) -> dict[str, Any]:
        """Run ``block`` with top-level await; ``given`` are the names it leaves to the reader."""
        code = block.code.replace("redis://localhost:6379/0", self.url).replace(
            "Docket()", f"Docket(name={self.name!r}, url={self.url!r})"
        )
        namespace: dict[str, Any] = {"__name__": "__guide__"}
        exec(earlier_imports(block), namespace)  # as in one REPL session, imports carry over
        namespace.update(given)
        compiled = compile(code, str(block), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(compiled, namespace)
        if inspect.isawaitable(result):
            await asyncio.wait_for(result, 60)
        return namespace

    def printed(self) -> str:
        return self.capsys.readouterr().out


def earlier_imports(block: Block) -> str:
    """The import statements of the examples before ``block`` on its page."""
    statements = []
    for earlier in blocks(block.page):
        if earlier.line >= block.line:
            break
        for node in ast.parse(earlier.code).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                statements.append(ast.unparse(node))
    return "\n".join(statements)


async def process_order(order_id: int) -> None:
    print(f"Processing order {order_id}")


async def send_notification(message: str) -> None:
    print(f"Notification: {message}")


async def eventually(condition: Callable[[], bool], what: str) -> None:
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- one check per example, found by a line of it ------------------------------


async def first_docket(session: Session, block: Block) -> None:
    async with Docket("emails", session.url) as emails:
        await emails.clear()
        await session.run(block)
        snapshot = await emails.snapshot()
        await emails.clear()
    assert snapshot.total_tasks == 2  # one now, one tomorrow


async def random_keys(session: Session, block: Block) -> None:
    await session.run(block)
    async with session.docket() as docket:
        assert (await docket.snapshot()).total_tasks == 3


async def custom_keys(session: Session, block: Block) -> None:
    await session.run(block)
    async with session.docket() as docket:
        assert (await docket.snapshot()).total_tasks == 1
        assert await docket.get_execution("process-order-12345") is not None


async def web_endpoint(session: Session, block: Block) -> None:
    app = FastAPI()
    async with session.docket() as docket:
        await session.run(block, app=app, docket=docket, process_order=process_order)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(3):
                response = await client.post("/orders/12345/process")
                assert response.json() == {"status": "scheduled"}
        assert (await docket.snapshot()).total_tasks == 1


async def replace_and_cancel(session: Session, block: Block) -> None:
    async def send_reminder(customer_id: int, message: str) -> None: ...

    async with session.docket() as docket:
        await session.run(
            block,
            docket=docket,
            send_reminder=send_reminder,
            customer_id=42,
        )
        cancelled = await docket.get_execution("reminder-42")
    assert cancelled is not None and cancelled.state is ExecutionState.CANCELLED


async def batches(session: Session, block: Block) -> None:
    async def send_reminder(customer_id: int, message: str) -> None: ...

    async with session.docket() as docket:
        await session.run(block, docket=docket, send_reminder=send_reminder)
        left = await docket.get_execution("reminder-103")
        assert left is not None and left.state is ExecutionState.SCHEDULED
        assert (await docket.snapshot()).total_tasks == 1
    assert session.printed() == block.output


async def worker_forever(session: Session, block: Block) -> None:
    running = asyncio.ensure_future(session.run(block))
    seen = ""
    try:
        async with session.docket() as docket:
            await docket.add(process_order)(7)
            await docket.add(send_notification)("Your order shipped")

            def both_ran() -> bool:
                nonlocal seen
                seen += session.printed()
                return "Processing order 7" in seen and "Notification: Your order shipped" in seen

            await eventually(both_ran, "the guide's worker to run both tasks")
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running  # run_forever raises its caller's cancellation


async def tasks_module(session: Session, block: Block) -> None:
    (session.tmp_path / "tasks.py").write_text(block.code, encoding="utf-8")
    async with session.docket() as docket:
        await docket.add(process_order)(12345)
        await docket.add(send_notification)("Your order shipped")
    finished = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "docket", "worker", "--tasks", "tasks:tasks"]
        + ["--concurrency", "5", "--until-finished"],
        cwd=session.tmp_path,
        env={**os.environ, "DOCKET_URL": session.url, "DOCKET_NAME": session.name},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    assert "Processing order 12345" in finished.stdout
    assert "Notification: Your order shipped" in finished.stdout


async def retries(session: Session, block: Block) -> None:
    @dataclass
    class Response:
        status_code: int

    class HTTPClient:
        def __init__(self) -> None:
            self.statuses = [503, 503, 200]

        async def get(self, url: str) -> Response:
            return Response(self.statuses.pop(0))

    namespace = await session.run(block, http_client=HTTPClient())
    async with session.docket(clock=VirtualClock()) as docket:
        execution = await docket.add(namespace["flaky_api_call"])("https://example.com")
        async with Worker(docket) as worker:
            await worker.run_until_finished()
        await execution.sync()
    assert execution.state is ExecutionState.COMPLETED
    assert "Success on attempt 3" in session.printed()


async def execution_state(session: Session, block: Block) -> None:
    async with session.docket() as docket:
        await session.run(block, docket=docket, process_order=process_order)
    assert session.printed() == "Task state: queued\n"


async def progress(session: Session, block: Block) -> None:
    records = [{"id": n} for n in range(5)]
    processed: list[dict[str, int]] = []

    async def load_records(file_path: str) -> list[dict[str, int]]:
        return records

    async def process_record(record: dict[str, int]) -> None:
        processed.append(record)

    namespace = await session.run(block, load_records=load_records, process_record=process_record)
    async with session.docket() as docket:
        execution = await docket.add(namespace["import_records"])("customers.csv")
        async with Worker(docket) as worker:
            await worker.run_until_finished()
        await execution.sync()
    assert processed == records
    assert (execution.progress.current, execution.progress.total) == (5, 5)


async def results(session: Session, block: Block) -> None:
    @dataclass
    class Item:
        price: float

    async def fetch_order_items(order_id: int) -> list[Item]:
        return [Item(19.99), Item(5.01), Item(75.00)]

    async with session.docket() as docket:
        async with Worker(docket) as worker:
            serving = asyncio.ensure_future(worker.run_forever())
            try:
                await session.run(block, docket=docket, fetch_order_items=fetch_order_items)
            finally:
                serving.cancel()
                await asyncio.gather(serving, return_exceptions=True)
    assert session.printed() == "Order total: $100.00\n"


async def strikes(session: Session, block: Block) -> None:
    await session.run(block)
    assert session.printed() == ("True\nscheduled\nNone\nrefused work ends as cancelled\nTrue\n")


Check = Callable[[Session, Block], Awaitable[None]]
CHECKS: dict[str, Check] = {
    'Docket(name="emails"': first_docket,
    "# Each of these gets a random key": random_keys,
    "# Ignored - key already exists": custom_keys,
    "@app.post(": web_endpoint,
    "await docket.cancel(key)": replace_and_cancel,
    "await docket.cancel_many(": batches,
    "await worker.run_forever()": worker_forever,
    "# tasks.py": tasks_module,
    "flaky_api_call": retries,
    "# Check the current state": execution_state,
    "async def import_records": progress,
    "async def calculate_total": results,
    "await docket.strike(": strikes,
}


def check_for(block: Block) -> Check:
    found = [check for line, check in CHECKS.items() if line in block.code]
    assert len(found) == 1, f"{block} needs exactly one check in {__name__}, has {len(found)}"
    return found[0]


def test_every_check_has_its_example() -> None:
    codes = [block.code for block in blocks(GUIDE)]
    for line in CHECKS:
        assert sum(line in code for code in codes) == 1, f"no one example of the guide has {line!r}"


@pytest.mark.parametrize("block", blocks(GUIDE), ids=str)
async def test_each_guide_example(
    block: Block, redis_server_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    check = check_for(block)
    session = Session(redis_server_url, f"guide-{uuid.uuid4().hex[:8]}", capsys, tmp_path)
    try:
        await check(session, block)
    finally:
        async with session.docket() as docket:
            await docket.clear()


@pytest.mark.parametrize("block", blocks("README.md"), ids=str)
def test_the_readme_example(block: Block, tmp_path: Path) -> None:
    printed = run_program(block, tmp_path)
    assert printed == "Welcome, Alice! (customer 12345)\nWelcome, Bob! (customer 67890)\n"
