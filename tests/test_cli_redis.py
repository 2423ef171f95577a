"""Every ``docket`` command as a real process (``python -m docket``) against a real redis-server.

Workers run ``tests/cli_support`` tasks that wait on files, so each test
decides when running work may finish; readiness is polled with a bound,
never slept for.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import signal
import socket
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cli_support.harness import SUPPORT, CLIProcess, docket_cli, docket_command, poll
from cli_support.helpers import Opaque, boom, hold, stepped, stubborn

from docket import Docket, __version__
from docket.states import Disposition, ExecutionState

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Talks to 127.0.0.1 directly, whatever proxy the environment names."""

T = TypeVar("T")

RUNNING, COMPLETED, FAILED, QUEUED = (
    ExecutionState.RUNNING,
    ExecutionState.COMPLETED,
    ExecutionState.FAILED,
    ExecutionState.QUEUED,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Lib:
    """The library's view of one docket, for setting up and checking what the CLI did."""

    name: str
    url: str

    def call(self, work: Callable[[Docket], Awaitable[T]]) -> T:
        async def main() -> T:
            async with Docket(self.name, self.url) as docket:
                return await work(docket)

        return asyncio.run(main())

    def add(self, function: Callable[..., Any], *args: Any, later: bool = False) -> str:
        async def add(docket: Docket) -> str:
            when = docket.clock.now() + timedelta(hours=1) if later else None
            return (await docket.add(function, when=when)(*args)).key

        return self.call(add)

    def state(self, key: str) -> ExecutionState | None:
        async def read(docket: Docket) -> ExecutionState | None:
            execution = await docket.get_execution(key)
            return None if execution is None else execution.state

        return self.call(read)

    def wait_for(self, key: str, state: ExecutionState) -> None:
        poll(lambda: self.state(key) is state, f"{key} to be {state}", interval=0.05)

    def workers(self) -> list[str]:
        async def read(docket: Docket) -> list[str]:
            return [w.name for w in await docket.workers()]

        return self.call(read)


def start_worker(
    lib: Lib, *args: str, name: str | None = None, cwd: Path | None = None
) -> CLIProcess:
    command = docket_command(
        "worker", "--docket", lib.name, "--url", lib.url, "--logging-format", "plain", *args
    )
    if name:
        command += ["--name", name]
    return CLIProcess(command, cwd=cwd)


@pytest.fixture
def lib(redis_server_url: str) -> Lib:
    return Lib(f"cli-{uuid.uuid4().hex[:10]}", redis_server_url)


@dataclass
class Shared:
    lib: Lib
    worker_name: str
    process: CLIProcess


@pytest.fixture(scope="module")
def shared(redis_server_url: str) -> Iterator[Shared]:
    """One worker running the helper tasks, for the tests that only need work to happen."""
    lib = Lib(f"cli-shared-{uuid.uuid4().hex[:8]}", redis_server_url)
    worker_name = f"shared-{uuid.uuid4().hex[:6]}"
    process = start_worker(lib, "--tasks", "cli_support.helpers:tasks", name=worker_name)
    try:
        poll(lambda: worker_name in lib.workers(), "the shared worker's heartbeat", interval=0.05)
        yield Shared(lib, worker_name, process)
    finally:
        process.stop()


def assert_one_line_error(result: Any, needle: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert needle in lines[0]


# -- version and the guide -------------------------------------------------------------


def test_version() -> None:
    result = docket_cli("version")
    assert result.returncode == 0
    assert result.stdout.strip() == __version__


def test_the_getting_started_worker(lib: Lib) -> None:
    """``docket worker --tasks tasks:tasks --concurrency 5`` beside the guide's tasks.py."""

    async def process_order(order_id: int) -> None: ...

    async def send_notification(message: str) -> None: ...

    script = Path(sys.executable).parent / "docket"
    command = [str(script)] if script.exists() else docket_command()
    worker = CLIProcess(
        [*command, "worker", "--tasks", "tasks:tasks", "--concurrency", "5"],
        env={"DOCKET_URL": lib.url, "DOCKET_NAME": lib.name},
        cwd=SUPPORT,
    )
    try:
        keys = [lib.add(process_order, 12345), lib.add(send_notification, "Your order shipped")]
        for key in keys:
            lib.wait_for(key, COMPLETED)
        worker.send(signal.SIGTERM)
        assert worker.wait() == 0, worker.errors
    finally:
        worker.stop()
    assert "Processing order 12345" in worker.output
    assert "Notification: Your order shipped" in worker.output
    assert "Starting worker" in worker.errors


# -- signals ------------------------------------------------------------------------


def test_sigterm_finishes_running_work_then_exits_0(lib: Lib, tmp_path: Path) -> None:
    worker = start_worker(lib, "--tasks", "cli_support.helpers:tasks")
    try:
        release = tmp_path / "release"
        running = lib.add(hold, str(release))
        lib.wait_for(running, RUNNING)
        worker.send(signal.SIGTERM)
        worker.wait_for_line("Received SIGTERM", stream="err")
        late = lib.add(hold, str(tmp_path / "never"))
        assert worker.process.poll() is None  # still finishing the held task
        release.touch()
        assert worker.wait() == 0, worker.errors
    finally:
        worker.stop()
    assert lib.state(running) is COMPLETED
    assert lib.state(late) is QUEUED  # nothing new was claimed after the signal


def test_a_second_signal_exits_at_once(lib: Lib, tmp_path: Path) -> None:
    worker = start_worker(lib, "--tasks", "cli_support.helpers:tasks")
    try:
        held = lib.add(hold, str(tmp_path / "never"))
        lib.wait_for(held, RUNNING)
        worker.send(signal.SIGINT)
        worker.wait_for_line("Received SIGINT", stream="err")
        worker.send(signal.SIGINT)
        assert worker.wait() == 128 + signal.SIGINT
    finally:
        worker.stop()
    assert "abandoning running work" in worker.errors
    assert lib.state(held) is QUEUED, worker.errors  # handed back: any worker may take it at once


def test_a_second_signal_exits_even_past_a_task_that_ignores_cancellation(
    lib: Lib, tmp_path: Path
) -> None:
    """The second signal exits at once although the task swallows its cancellation,
    and hands its work back: another worker runs it without waiting out the lease."""
    marker = str(tmp_path / "first-run")
    worker = start_worker(
        lib, "--tasks", "cli_support.helpers:tasks", "--redelivery-timeout", "10m"
    )
    try:
        key = lib.add(stubborn, marker)
        lib.wait_for(key, RUNNING)
        worker.send(signal.SIGTERM)
        worker.wait_for_line("Received SIGTERM", stream="err")
        worker.send(signal.SIGTERM)
        assert worker.wait() == 128 + signal.SIGTERM
    finally:
        worker.stop()
    assert "ignored cancellation" in worker.errors
    assert lib.state(key) is QUEUED
    second = start_worker(lib, "--tasks", "cli_support.helpers:tasks", "--until-finished")
    try:
        assert second.wait() == 0
    finally:
        second.stop()
    assert lib.state(key) is COMPLETED


# -- watch ---------------------------------------------------------------------------


def test_watch_follows_progress_to_completion(shared: Shared, tmp_path: Path) -> None:
    lib = shared.lib
    key = lib.add(stepped, str(tmp_path), 2)
    watch = CLIProcess(docket_command("watch", key, "--docket", lib.name, "--url", lib.url))
    try:
        watch.wait_for_line(f"{key}: running")
        (tmp_path / "step-1").touch()
        watch.wait_for_line("progress=1/2 finished step 1")
        (tmp_path / "step-2").touch()
        final = watch.wait_for_line(f"{key}: completed")
        assert watch.wait() == 0
    finally:
        watch.stop()
    assert f"worker={shared.worker_name}" in final
    assert "progress=2/2 finished step 2" in final
    assert watch.errors == ""


def test_watch_a_failure(shared: Shared) -> None:
    lib = shared.lib
    key = lib.add(boom, "kaboom")
    result = docket_cli("watch", key, "--docket", lib.name, "--url", lib.url)
    assert result.returncode == 1
    assert result.stdout.strip().splitlines()[-1].startswith(f"{key}: failed task=boom")
    assert "error=RuntimeError: kaboom" in result.stdout


# -- snapshot, workers, built-in tasks ---------------------------------------------------------


def test_snapshot(shared: Shared, tmp_path: Path) -> None:
    lib = shared.lib
    release = tmp_path / "release"
    running = lib.add(hold, str(release))
    future = lib.add(hold, str(tmp_path / "later"), later=True)
    opaque = lib.add(stepped, Opaque(7), 1, later=True)
    lib.wait_for(running, RUNNING)
    try:
        args = ("snapshot", "--docket", lib.name, "--url", lib.url)
        # Without tests/ importable, Opaque's module cannot be found: shown, not fatal.
        plain = docket_cli(*args, env={"PYTHONPATH": str(SUPPORT.parent.parent)})
        assert plain.returncode == 0, plain.stderr
        for key in (running, future, opaque):
            assert key in plain.stdout
        assert "stepped(<arguments cannot be decoded: ModuleNotFoundError" in plain.stdout
        assert shared.worker_name in plain.stdout
        assert re.search(r"\b1 worker, [1-9]\d*/\d+ running", plain.stdout)
        with_tasks = docket_cli(*args, "--tasks", "cli_support.helpers:tasks", "--stats")
        assert with_tasks.returncode == 0, with_tasks.stderr
        assert "cannot be decoded" not in with_tasks.stdout
        assert "By task" in with_tasks.stdout
    finally:
        release.touch()
        lib.wait_for(running, COMPLETED)

        async def cancel(docket: Docket) -> None:
            for key in (future, opaque):
                await docket.cancel(key)

        lib.call(cancel)  # leave the shared docket as it was


def test_workers_ls_and_for_task(shared: Shared) -> None:
    lib = shared.lib
    listed = docket_cli("workers", "ls", "--docket", lib.name, "--url", lib.url)
    assert listed.returncode == 0, listed.stderr
    assert shared.worker_name in listed.stdout and "Last Seen" in listed.stdout
    for_task = docket_cli("workers", "for-task", "stepped", "--docket", lib.name, "--url", lib.url)
    assert shared.worker_name in for_task.stdout
    assert "1 worker for task 'stepped'" in for_task.stdout
    nobody = docket_cli("workers", "for-task", "unknown", "--docket", lib.name, "--url", lib.url)
    assert "0 workers for task 'unknown'" in nobody.stdout


def test_builtin_tasks_run_on_a_worker(shared: Shared) -> None:
    pytest.importorskip("docket.tasks")
    lib = shared.lib
    expected = {"trace": COMPLETED, "fail": FAILED, "sleep": COMPLETED}
    for task, state in expected.items():
        args = ["0.01"] if task == "sleep" else []
        result = docket_cli("tasks", task, *args, "--docket", lib.name, "--url", lib.url)
        assert result.returncode == 0, result.stderr
        key = result.stdout.split(" as ")[1].split(" ")[0]
        lib.wait_for(key, state)
    delayed = docket_cli("tasks", "trace", "--delay", "1h", "--docket", lib.name, "--url", lib.url)
    key = delayed.stdout.split(" as ")[1].split(" ")[0]
    assert lib.state(key) is ExecutionState.SCHEDULED

    async def cancel(docket: Docket) -> None:
        await docket.cancel(key)

    lib.call(cancel)  # leave the shared docket as it was


# -- strike, restore, clear ---------------------------------------------------------------


def test_strike_and_restore(lib: Lib) -> None:
    args = ("hold", "release", "==", "str:x", "--docket", lib.name, "--url", lib.url)
    struck = docket_cli("strike", *args)
    assert struck.returncode == 0, struck.stderr
    assert struck.stdout.strip() == f"Striking 'hold' where release == 'x' in docket {lib.name!r}"

    async def add(docket: Docket) -> Disposition:
        return (await docket.add(hold)("x")).disposition

    assert lib.call(add) is Disposition.STRUCK
    restored = docket_cli("restore", *args)
    assert restored.returncode == 0, restored.stderr
    assert lib.call(add) is Disposition.SCHEDULED
    assert_one_line_error(
        docket_cli("strike", "--docket", lib.name, "--url", lib.url), "cannot both be '*'"
    )


def test_clear(lib: Lib, tmp_path: Path) -> None:
    lib.add(hold, str(tmp_path / "a"))
    lib.add(hold, str(tmp_path / "b"), later=True)
    result = docket_cli("clear", "--docket", lib.name, "--url", lib.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Cleared 2 tasks from docket {lib.name!r}"


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["snapshot", "--url", "redis://127.0.0.1:1/0"], "cannot reach redis://127.0.0.1:1/0"),
        (
            ["clear", "--url", "redis://:secret@127.0.0.1:1/0"],
            "cannot reach redis://:***@127.0.0.1:1/0",
        ),
        (["worker", "--url", "bogus://x"], "scheme 'bogus' is not supported"),
        (["worker", "--tasks", "no_such_module:tasks"], "cannot import module 'no_such_module'"),
        (["worker", "--tasks", "cli_support.helpers:missing"], "has no attribute 'missing'"),
        (["worker", "--redelivery-timeout", "soon"], "invalid --redelivery-timeout 'soon'"),
        (["tasks", "sleep", "forever"], "invalid sleep duration 'forever'"),
    ],
)
def test_errors_are_one_line(args: list[str], needle: str) -> None:
    assert_one_line_error(docket_cli(*args), needle)


def test_watch_an_unknown_key(lib: Lib) -> None:
    result = docket_cli("watch", "missing", "--docket", lib.name, "--url", lib.url)
    assert_one_line_error(result, "no execution with key 'missing'")


# -- metrics and health ----------------------------------------------------------------


def _get(url: str) -> tuple[int, str] | None:
    try:
        with NO_PROXY.open(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None


def test_metrics_port_serves_docket_metrics(lib: Lib, tmp_path: Path) -> None:
    port = free_port()
    worker = start_worker(lib, "--tasks", "cli_support.helpers:tasks", "--metrics-port", str(port))
    try:
        release = tmp_path / "release"
        release.touch()
        lib.wait_for(lib.add(hold, str(release)), COMPLETED)
        if importlib.util.find_spec("opentelemetry.sdk") is not None:
            expected = "docket_tasks_completed_total{"
        else:
            expected = "docket_queue_depth{"

        def scrape() -> str | None:
            got = _get(f"http://127.0.0.1:{port}/metrics")
            return got[1] if got and expected in got[1] else None

        body = poll(scrape, f"{expected} on /metrics", interval=0.1)
        assert f'docket_name="{lib.name}"' in body
    finally:
        worker.stop()


def test_healthcheck_follows_the_server(tmp_path: Path) -> None:
    from conformance.redis_server import RedisUnavailable, start_redis_server

    try:
        server = start_redis_server()
    except RedisUnavailable as error:
        pytest.skip(str(error))
    if server.process is None:
        pytest.skip("needs a redis-server of its own to stop")
    lib = Lib(f"cli-health-{uuid.uuid4().hex[:8]}", server.url)
    port = free_port()
    worker = start_worker(lib, "--healthcheck-port", str(port), "--reconnection-delay", "250ms")
    try:
        url = f"http://127.0.0.1:{port}/"
        poll(lambda: (_get(url) or (0, ""))[0] == 200, "a healthy worker", interval=0.05)
        server.stop()
        # Its claims fail at once; the engine probe says why within a second.
        status, body = poll(
            lambda: (got := _get(url)) and got[0] == 503 and "engine unreachable" in got[1] and got,
            "an unhealthy worker",
            interval=0.05,
        )
        assert '"status": "unavailable"' in body and "engine unreachable" in body
    finally:
        worker.stop()
        server.stop()
