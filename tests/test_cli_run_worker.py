"""``run_worker``: pydocket's ``Worker.run`` parameters, the path ``docket worker`` takes.

Run in-process until finished on memory:// and on a real redis-server, and
as a real process stopped by SIGTERM; bad settings raise before anything
connects, naming the parameter and the value.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import signal
import sys
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import helpers
from cli_support.harness import ROOT, CLIProcess, poll
from pydocket_api import surface

from docket import Docket, Worker
from docket.cli.worker import run_worker
from docket.execution import Execution
from docket.states import ExecutionState

PYDOCKET_API = json.loads((ROOT / "tests" / "pydocket_api" / "pydocket-0.27.2.json").read_text())


def test_the_signature_is_pydockets_worker_run() -> None:
    """Same names, order and defaults, except the documented minimum_check_interval."""
    theirs = PYDOCKET_API["contract"]["docket.worker.Worker.run"]["signature"]
    ours = list(inspect.signature(run_worker).parameters.values())
    assert [p.name for p in ours[: len(theirs)]] == [p["name"] for p in theirs]
    for mine, their in zip(ours, theirs, strict=False):
        assert mine.kind.name == their["kind"], mine.name
        if mine.name == "minimum_check_interval":
            assert mine.default == timedelta(milliseconds=250)  # the Worker's, not 100 ms
            continue
        assert surface.default_problem(mine.default, their["default"]) is None, mine.name
    extras = ours[len(theirs) :]
    assert [(p.name, p.kind) for p in extras] == [
        ("prefetch", inspect.Parameter.KEYWORD_ONLY),
        ("max_deliveries", inspect.Parameter.KEYWORD_ONLY),
        ("unknown_task_grace", inspect.Parameter.KEYWORD_ONLY),
        ("metrics_host", inspect.Parameter.KEYWORD_ONLY),
        ("healthcheck_host", inspect.Parameter.KEYWORD_ONLY),
    ]


def test_the_defaults_are_the_workers() -> None:
    worker = inspect.signature(Worker.__init__).parameters
    for parameter in inspect.signature(run_worker).parameters.values():
        if parameter.name in worker:
            assert parameter.default == worker[parameter.name].default, parameter.name


async def _add(name: str, url: str, *calls: tuple[Any, tuple[Any, ...]]) -> list[Execution]:
    async with Docket(name, url) as docket:
        return [await docket.add(function)(*args) for function, args in calls]


async def _results(name: str, url: str, executions: list[Execution]) -> list[Any]:
    async with Docket(name, url) as docket:
        found = []
        for execution in executions:
            stored = await docket.get_execution(execution.key)
            assert stored is not None and stored.state is ExecutionState.COMPLETED
            found.append(await stored.get_result(timeout=timedelta(seconds=5)))
        return found


async def test_run_until_finished_on_memory(tmp_path: Path) -> None:
    name = f"run-{uuid.uuid4().hex[:8]}"
    url = f"memory://{name}"
    release = tmp_path / "release"
    release.touch()
    executions = await _add(name, url, (helpers.report, ()), (helpers.hold, (str(release),)))
    await run_worker(
        name,
        url,
        "run-worker",
        3,
        minimum_check_interval=timedelta(milliseconds=50),
        until_finished=True,
        tasks=["cli_support.helpers:settings_tasks", "cli_support.helpers:tasks"],
        fallback_task="cli_support.helpers:fallback",
        message_batch=5,
        dependencies="cli_support.helpers:named_dependencies",
        enable_internal_instrumentation=True,
        prefetch=0,
    )
    settings, held = await _results(name, url, executions)
    assert held == str(release)
    assert settings == {
        **settings,
        "name": "run-worker",
        "concurrency": 3,
        "minimum_check_interval": 0.05,
        "message_batch": 5,
        "prefetch": 0,
        "fallback_task": "fallback",
        "dependencies": ["around"],
        "worker_instrumentation": True,
        "docket_instrumentation": True,
    }


async def test_run_until_finished_on_redis(redis_server_url: str) -> None:
    name = f"run-{uuid.uuid4().hex[:8]}"
    executions = await _add(name, redis_server_url, (helpers.report, ()))
    await run_worker(
        docket_name=name,
        url=redis_server_url,
        until_finished=True,
        tasks=["cli_support.helpers:settings_tasks"],
        dependencies=helpers.dependencies,
        schedule_automatic_tasks=False,
    )
    (settings,) = await _results(name, redis_server_url, executions)
    assert settings["dependencies"] == ["0"] and settings["schedule_automatic_tasks"] is False
    assert settings["minimum_check_interval"] == 0.25


async def test_a_cancelled_run_raises() -> None:
    """pydocket's run swallowed the cancellation (its known defect); ours raises it."""
    name = f"run-{uuid.uuid4().hex[:8]}"
    url = f"memory://{name}"
    (execution,) = await _add(name, url, (helpers.report, ()))
    running = asyncio.create_task(
        run_worker(name, url, tasks=["cli_support.helpers:settings_tasks"])
    )

    async def completed() -> bool:
        async with Docket(name, url) as docket:
            found = await docket.get_execution(execution.key)
            return found is not None and found.state is ExecutionState.COMPLETED

    for _ in range(500):
        if await completed() or running.done():
            break
        await asyncio.sleep(0.01)
    assert not running.done()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


@pytest.mark.parametrize(
    ("settings", "kind", "needles"),
    [
        (
            {"fallback_task": "no_such_module:fallback"},
            ModuleNotFoundError,
            ["fallback_task 'no_such_module:fallback'", "cannot import module"],
        ),
        ({"tasks": ["nowhere"]}, ValueError, ["invalid tasks 'nowhere'"]),
        (
            {"tasks": ["cli_support.helpers:missing"]},
            AttributeError,
            ["has no attribute 'missing'", "tasks 'cli_support.helpers:missing'"],
        ),
        (
            {"dependencies": "cli_support.helpers:bad_dependencies"},
            TypeError,
            ["dependencies 'cli_support.helpers:bad_dependencies' contains 42"],
        ),
        ({"dependencies": 42}, TypeError, ["dependencies must name a mapping or sequence"]),
        ({"healthcheck_port": 70000}, ValueError, ["invalid healthcheck_port 70000"]),
        ({"metrics_port": -1}, ValueError, ["invalid metrics_port -1"]),
        ({"url": "http://x"}, ValueError, ["invalid url 'http://x'", "not supported"]),
        (
            {"url": "redis+sentinel://:hunter22@s1:26379"},
            ValueError,
            ["must name the service", "redis+sentinel://:***@s1:26379"],
        ),
        ({"concurrency": 0}, ValueError, ["concurrency must be a positive integer, got 0"]),
        ({"message_batch": 0}, ValueError, ["message_batch must be a positive integer"]),
        ({"redelivery_timeout": timedelta(0)}, ValueError, ["redelivery_timeout"]),
    ],
)
async def test_bad_settings_name_the_parameter(
    settings: dict[str, Any], kind: type[Exception], needles: list[str]
) -> None:
    arguments: dict[str, Any] = {"url": "memory://bad-settings", "until_finished": True}
    arguments.update(settings)
    with pytest.raises(kind) as raised:
        await run_worker(**arguments)
    message = str(raised.value)
    for needle in needles:
        assert needle in message, message
    assert "hunter22" not in message


# -- as a real process, stopped by a signal ------------------------------------------------


def test_sigterm_stops_run_worker_gracefully(redis_server_url: str, tmp_path: Path) -> None:
    name = f"run-{uuid.uuid4().hex[:8]}"
    script = textwrap.dedent(
        f"""
        import asyncio, logging, sys
        from docket.cli.worker import run_worker

        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        asyncio.run(run_worker({name!r}, {redis_server_url!r},
                               tasks=["cli_support.helpers:tasks"]))
        print("run_worker returned", flush=True)
        """
    )
    release = tmp_path / "release"
    (execution,) = asyncio.run(_add(name, redis_server_url, (helpers.hold, (str(release),))))

    def state() -> ExecutionState | None:
        async def read() -> ExecutionState | None:
            async with Docket(name, redis_server_url) as docket:
                found = await docket.get_execution(execution.key)
                return None if found is None else found.state

        return asyncio.run(read())

    process = CLIProcess([sys.executable, "-c", script])
    try:
        poll(lambda: state() is ExecutionState.RUNNING, "the held task to run", interval=0.05)
        process.send(signal.SIGTERM)
        process.wait_for_line("Received SIGTERM", stream="err")
        assert process.process.poll() is None  # still finishing the held task
        release.touch()
        assert process.wait() == 0, process.errors
    finally:
        process.stop()
    assert "run_worker returned" in process.output
    assert state() is ExecutionState.COMPLETED
