"""``docket dashboard``: serves the dashboard with uvicorn, or says which extra to install.

The serving test starts the real command in a subprocess against the
suite's Redis, fetches the page over HTTP and checks what it shows; the
others run the typer app in-process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from typer.testing import CliRunner

from docket import Docket
from docket.cli.app import app
from docket.cli.dashboard import INSTALL_HINT

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


async def hello(name: str) -> None:
    """Scheduled for later, to be seen on the page."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_without_the_extra_it_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = CliRunner().invoke(app, ["dashboard", "--url", "redis://localhost:1/0"])
    assert result.exit_code == 1
    assert INSTALL_HINT in result.output
    assert "uvicorn" in result.output


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--url", "memory://x"], "not supported by this command"),
        (["--url", "redis://localhost:1/0", "--port", "70000"], "out of range"),
        (["--url", "redis://localhost:1/0", "--docket", "a{b}"], "without braces"),
    ],
)
def test_bad_options_are_one_line_errors(arguments: list[str], said: str) -> None:
    result = CliRunner().invoke(app, ["dashboard", *arguments])
    assert result.exit_code != 0
    assert said in result.output
    assert "Traceback" not in result.output


async def test_it_serves_the_dashboard_of_a_docket(redis_server_url: str) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    async with Docket(name, redis_server_url) as producer:
        later = producer.clock.now() + timedelta(hours=1)
        await producer.add(hello, when=later, key="from-the-cli")("x")
        port = free_port()
        command = [sys.executable, "-m", "docket", "dashboard", "--url", redis_server_url]
        command += ["--docket", name, "--port", str(port), "--read-only"]
        server = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            page = None
            deadline = time.monotonic() + 30
            async with httpx.AsyncClient() as client:
                while page is None and time.monotonic() < deadline:
                    try:
                        page = (await client.get(f"http://127.0.0.1:{port}/")).text
                    except httpx.TransportError:
                        assert server.poll() is None, server.communicate()[0]
                        time.sleep(0.1)
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=15)
        await producer.clear()
    assert page is not None, output
    assert 'data-key="from-the-cli"' in page
    assert "Read-only" in page
    assert f"docket dashboard of {name!r}" in output
    assert f"http://127.0.0.1:{port}/ (read-only)" in output
