"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright.

uvicorn serves ``docket.dashboard.app`` on a free port in a thread, over the
suite's real Redis; a worker runs in another thread.  The browser loads the
page, sees the live stream connect and a task added afterwards appear
without a reload, clicks "Cancel" on a scheduled task, and the test checks
the page's notice and the record in the docket; then it opens the running
execution's page and sees its worker and progress there.

Without ``chromium`` (``apt-get install chromium``) the test is skipped,
unless CI is set: there it fails.  Playwright uses the system browser
(``executable_path``); ``playwright install`` is never needed.  With
``DOCKET_DASHBOARD_SCREENSHOT=docs/dashboard.png`` it also waits for a
failure to show and saves a screenshot there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from docket import Docket, ExecutionState, Progress, Worker

T = TypeVar("T")

CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def chromium_or_skip() -> str:
    """The system chromium's path; skip without one (fail under CI)."""
    path = shutil.which("chromium")
    missing = None
    if path is None:
        missing = "Debian's chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[test]')"
    if missing is not None:
        if CI:
            pytest.fail(f"CI must run the dashboard's browser test, but {missing}")
        pytest.skip(missing)
    assert path is not None
    return path


async def hello(name: str) -> None:
    """Scheduled for later; the dashboard cancels it."""


async def slow_report(progress: Progress = Progress()) -> None:
    """Runs for a while with progress, so the page shows running work."""
    await progress.set_total(40)
    await progress.increment(13)
    await progress.set_message("rendering page 13 of 40")
    await asyncio.sleep(120)


async def charge_card(order_id: int) -> None:
    """Fails, so the page shows a recent failure."""
    raise ConnectionError(f"payment gateway timed out for order {order_id}")


async def legacy_import(batch: str) -> None:
    """A task the worker does not know, so its work becomes a dead letter."""


async def set_aside_an_unknown_task(docket: Docket) -> None:
    async with Docket(docket.name, docket.url) as producer:
        await producer.add(legacy_import, key="import-batch-17")("batch-17")


async def cancel_everything(docket: Docket) -> None:
    """Cancel what is left, running work too, so the worker can stop at once."""
    await docket.clear()
    for running in (await docket.snapshot()).running:
        await docket.cancel(running.key)


class LoopThread:
    """An event loop in a thread, for the worker and the server beside the browser."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def chromium() -> str:
    """The system chromium (checked before anything is started for it)."""
    return chromium_or_skip()


@pytest.fixture
def served(chromium: str, redis_server_url: str) -> Iterator[tuple[str, Docket, LoopThread]]:
    """The dashboard of a fresh docket on Redis at a URL, a worker running beside it."""
    import uvicorn

    from docket.dashboard import app

    name = f"browser-{uuid.uuid4().hex[:8]}"
    side = LoopThread()
    docket = Docket(name, redis_server_url)
    for function in (hello, slow_report, charge_card):
        docket.register(function)
    side.run(docket.__aenter__())
    worker = Worker(docket, name="worker-a", unknown_task_grace=timedelta(0))
    side.run(worker.__aenter__())
    working = asyncio.run_coroutine_threadsafe(worker.run_forever(), side.loop)
    dashboard = app(
        url=redis_server_url,
        docket=name,
        tasks=[hello],
        poll_interval=0.5,
        allow_unauthenticated_actions=True,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            dashboard, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", docket, side
    finally:
        server.should_exit = True
        serving.join(10)
        side.run(cancel_everything(docket))
        working.cancel()
        side.run(worker.__aexit__(None, None, None))
        side.run(docket.__aexit__(None, None, None))
        side.stop()


def test_cancel_a_scheduled_task_in_a_real_browser(
    chromium: str, served: tuple[str, Docket, LoopThread]
) -> None:
    executable = chromium
    from playwright.sync_api import expect, sync_playwright

    url, docket, side = served
    later = docket.clock.now() + timedelta(minutes=10)
    for index, person in enumerate(["Ada", "Grace", "Edsger"], start=1):
        side.run(
            docket.add(hello, when=later + timedelta(minutes=index), key=f"remind-{index}")(person)
        )
    side.run(docket.add(slow_report, key="report-2026-q4")())
    side.run(docket.strike(charge_card, "order_id", "==", 1313))
    screenshot = os.environ.get("DOCKET_DASHBOARD_SCREENSHOT")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(url + "/")
            expect(page.locator("#status")).to_have_text("live", timeout=15_000)
            expect(page.locator('tr[data-key="report-2026-q4"]')).to_contain_text(
                "worker-a", timeout=15_000
            )
            # Work added after the page loaded arrives over the live stream.
            side.run(docket.add(hello, when=later, key="added-later")("Barbara"))
            expect(page.locator('tr[data-key="added-later"]')).to_be_visible(timeout=15_000)

            page.locator('tr[data-key="remind-1"] button[data-action="cancel"]').click()
            expect(page.locator(".notice")).to_have_text("Cancelled remind-1.", timeout=15_000)
            expect(page.locator('tr[data-key="remind-1"]')).to_have_count(0)
            execution = side.run(docket.get_execution("remind-1"))
            assert execution is not None and execution.state is ExecutionState.CANCELLED

            # One execution's page follows it live too.
            page.locator('tr[data-key="report-2026-q4"] a').click()
            expect(page.locator("dl.record")).to_contain_text("rendering page 13 of 40")
            expect(page.locator("dl.record")).to_contain_text("worker-a")
            expect(page.locator("#status")).to_have_text("live", timeout=15_000)

            if screenshot:
                soon = docket.clock.now() + timedelta(seconds=2)
                side.run(docket.add(charge_card, when=soon)(4242))
                side.run(set_aside_an_unknown_task(docket))
                page.goto(url + "/")
                expect(page.locator("table.failures")).to_contain_text(
                    "payment gateway timed out", timeout=15_000
                )
                page.goto(url + "/")
                expect(page.locator("#status")).to_have_text("live", timeout=15_000)
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
