"""``docket clear`` says what it removes, asks at a terminal, and stays pydocket's in scripts.

In-process runs (typer's CliRunner, whose stdin is not a terminal) cover the
script behaviour, ``--dry-run`` and ``--yes``; the question is asked through
``stdin_is_terminal``, made true for those tests, and once for real with the
command on a pseudo-terminal.  Every test runs on the suite's real Redis and
on fakeredis (``clear`` does not take memory:// URLs: a separate process
would see an empty docket).
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from cli_support.harness import TIMEOUT, cli_env, docket_command
from typer.testing import CliRunner, Result

from docket import Docket
from docket.cli import app
from docket.cli import clear as clear_module
from docket.engines.records import QueueCounts

runner = CliRunner()


async def job(value: int = 0) -> None:
    """Only its name travels."""


@pytest.fixture(params=["redis", "fakeredis"])
def target(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A fresh docket name, on the real Redis and on fakeredis."""
    name = f"clear-{uuid.uuid4().hex[:10]}"
    if request.param == "redis":
        yield name, request.getfixturevalue("redis_server_url")
    else:
        pytest.importorskip("fakeredis")
        yield name, f"fakeredis://{name}"


def with_docket(name: str, url: str) -> None:
    """Two scheduled and one queued task."""

    async def main() -> None:
        async with Docket(name, url) as docket:
            later = docket.clock.now() + timedelta(hours=1)
            await docket.add(job, when=later)(1)
            await docket.add(job, when=later)(2)
            await docket.add(job)(3)

    asyncio.run(main())


def counts(name: str, url: str) -> QueueCounts:
    async def main() -> QueueCounts:
        async with Docket(name, url) as docket:
            return await docket.engine.counts(docket.clock.now())

    return asyncio.run(main())


def invoke(name: str, url: str, *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, ["clear", "--docket", name, "--url", url, *args], input=stdin)


SAID = "3 tasks in docket {name!r}: 2 scheduled, 1 queued; 0 running, left to finish"


def test_without_a_terminal_it_clears_as_pydocket_did_and_says_what_on_stderr(
    target: tuple[str, str],
) -> None:
    name, url = target
    with_docket(name, url)
    result = invoke(name, url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Cleared 3 tasks from docket {name!r}"
    assert result.stderr.strip() == "Clearing " + SAID.format(name=name)
    assert counts(name, url).total == 0


def test_dry_run_only_shows(target: tuple[str, str]) -> None:
    name, url = target
    with_docket(name, url)
    result = invoke(name, url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Would clear " + SAID.format(name=name)
    assert counts(name, url) == QueueCounts(future=2, queued=1, running=0)


@pytest.fixture
def at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clear_module, "stdin_is_terminal", lambda: True)


@pytest.mark.usefixtures("at_a_terminal")
def test_at_a_terminal_declining_clears_nothing(target: tuple[str, str]) -> None:
    name, url = target
    with_docket(name, url)
    result = invoke(name, url, stdin="n\n")
    assert result.exit_code == 1
    assert "This will clear " + SAID.format(name=name) in result.stdout
    assert "Clear them? [y/N]" in result.stdout
    assert result.stdout.strip().endswith("Nothing was cleared.")
    assert counts(name, url).total == 3
    # Just pressing Enter is "no" too.
    assert invoke(name, url, stdin="\n").exit_code == 1
    assert counts(name, url).total == 3


@pytest.mark.usefixtures("at_a_terminal")
def test_at_a_terminal_agreeing_clears(target: tuple[str, str]) -> None:
    name, url = target
    with_docket(name, url)
    result = invoke(name, url, stdin="y\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(f"Cleared 3 tasks from docket {name!r}")
    assert counts(name, url).total == 0


@pytest.mark.usefixtures("at_a_terminal")
def test_yes_skips_the_question(target: tuple[str, str]) -> None:
    name, url = target
    with_docket(name, url)
    for flag in ("--yes", "-y"):
        result = invoke(name, url, flag)
        assert result.exit_code == 0, result.output
        assert "Clear them?" not in result.output
        assert result.stdout.strip().endswith("from docket " + repr(name))
    assert counts(name, url).total == 0


@pytest.mark.usefixtures("at_a_terminal")
def test_an_empty_docket_asks_nothing(target: tuple[str, str]) -> None:
    name, url = target
    result = invoke(name, url)
    assert result.exit_code == 0, result.output
    assert "Clear them?" not in result.output
    assert result.stdout.strip().endswith("Nothing to clear.")


def test_help_explains_the_scripts_behaviour() -> None:
    result = runner.invoke(app, ["clear", "--help"])
    assert result.exit_code == 0
    for needle in ("--yes", "--dry-run", "not a terminal", "pydocket"):
        assert needle in result.stdout


def read_until(fd: int, needle: bytes, seen: bytearray) -> None:
    """Read from ``fd`` into ``seen`` until ``needle`` appears (bounded by TIMEOUT)."""
    while needle not in seen:
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        assert ready, f"no {needle!r} in {bytes(seen)!r}"
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        seen.extend(chunk)
    assert needle in seen, bytes(seen)


@pytest.mark.parametrize(("answer", "left"), [(b"n", 3), (b"y", 0)])
def test_a_real_terminal_is_asked(redis_server_url: str, answer: bytes, left: int) -> None:
    name = f"clear-{uuid.uuid4().hex[:10]}"
    with_docket(name, redis_server_url)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        docket_command("clear", "--docket", name, "--url", redis_server_url),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=cli_env(),
    )
    os.close(terminal)
    seen = bytearray()
    try:
        read_until(controller, b"[y/N]", seen)
        os.write(controller, answer + b"\n")
        assert process.wait(timeout=TIMEOUT) == (0 if left == 0 else 1)
        read_until(controller, b"cleared." if left else b"Cleared 3 tasks", seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    assert counts(name, redis_server_url).total == left
