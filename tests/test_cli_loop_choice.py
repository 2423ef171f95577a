"""``docket worker --loop auto|asyncio|uvloop``: which event loop the worker runs on.

uvloop is in the ``test`` extra, so CI runs the uvloop tests; "not
installed" is made true by hiding the module (``sys.modules['uvloop'] =
None`` makes every import of it fail, as on an install without the extra).
Workers run for real: in-process on memory, and as processes on the suite's
real Redis, running a task and draining on SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta

import pytest
from cli_support.harness import CLIProcess, docket_cli, docket_command
from typer.testing import CliRunner

from docket import Docket
from docket.cli import app, event_loop
from docket.cli.loops import LoopChoice, loop_factory, loop_name, uvloop_installed

runner = CliRunner()

needs_uvloop = pytest.mark.skipif(not uvloop_installed(), reason="uvloop is not installed")


@pytest.fixture
def without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)


def built_by(choice: str) -> str:
    loop = loop_factory(choice)()
    try:
        return loop_name(loop)
    finally:
        loop.close()


def test_asyncio_is_dockets_corrected_loop() -> None:
    assert loop_factory("asyncio") is event_loop.new_event_loop
    assert loop_factory(LoopChoice.ASYNCIO) is event_loop.new_event_loop
    assert built_by("asyncio") == "asyncio"


@needs_uvloop
def test_uvloop_and_auto_build_uvloops_loop_when_it_is_installed() -> None:
    assert built_by("uvloop") == "uvloop"
    assert built_by("auto") == "uvloop"


@pytest.mark.usefixtures("without_uvloop")
def test_without_uvloop_auto_is_asyncio_and_uvloop_is_an_error_naming_the_extra() -> None:
    assert not uvloop_installed()
    assert loop_factory("auto") is event_loop.new_event_loop
    with pytest.raises(ValueError, match=r"--loop uvloop needs uvloop.*install pydocket\[uvloop\]"):
        loop_factory("uvloop")


def test_an_unknown_loop_is_an_error_naming_the_option_and_value() -> None:
    with pytest.raises(ValueError, match=r"invalid --loop 'trio': expected one of auto, asyncio"):
        loop_factory("trio")


@pytest.mark.usefixtures("without_uvloop")
def test_the_command_refuses_uvloop_without_it_in_one_line() -> None:
    result = runner.invoke(app, ["worker", "--url", "memory://no-uvloop", "--loop", "uvloop"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --loop uvloop needs uvloop"), lines
    assert "pydocket[uvloop]" in lines[0]


def test_the_option_reads_docket_worker_loop() -> None:
    result = runner.invoke(
        app,
        ["worker", "--url", "memory://env-loop", "--until-finished"],
        env={"DOCKET_WORKER_LOOP": "asyncio"},
    )
    assert result.exit_code == 0, result.output
    assert "Event loop: asyncio" in result.stderr
    help_text = runner.invoke(app, ["worker", "--help"]).stdout
    assert "--loop" in help_text and "DOCKET_WORKER_LOOP" in help_text


@pytest.mark.parametrize("choice", ["asyncio", pytest.param("uvloop", marks=needs_uvloop), "auto"])
def test_a_worker_runs_its_tasks_on_the_chosen_loop(choice: str, redis_server_url: str) -> None:
    name = f"loop-{uuid.uuid4().hex[:8]}"

    async def add() -> None:
        from docket.tasks import trace

        async with Docket(name, redis_server_url) as docket:
            await docket.add(trace)(f"hello from {choice}")
            soon = docket.clock.now() + timedelta(milliseconds=50)
            await docket.add(trace, when=soon)(f"later from {choice}")

    asyncio.run(add())
    result = docket_cli(
        "worker", "--docket", name, "--url", redis_server_url, "--until-finished", "--loop", choice
    )
    assert result.returncode == 0, result.stderr
    expected = (
        "uvloop" if choice == "uvloop" or (choice == "auto" and uvloop_installed()) else "asyncio"
    )
    assert f"Event loop: {expected}" in result.stderr
    assert f"hello from {choice}" in result.stderr
    assert f"later from {choice}" in result.stderr


@needs_uvloop
def test_sigterm_drains_a_worker_on_uvloop(redis_server_url: str) -> None:
    name = f"loop-{uuid.uuid4().hex[:8]}"
    worker = CLIProcess(
        docket_command("worker", "--docket", name, "--url", redis_server_url, "--loop", "uvloop")
    )
    try:
        worker.wait_for_line("Event loop: uvloop", stream="err")
        worker.send()
        assert worker.wait() == 0, worker.errors
        assert "Worker stopped" in worker.errors
    finally:
        worker.stop()
