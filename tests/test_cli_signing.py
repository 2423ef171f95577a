"""``--signing-key`` (and ``DOCKET_SIGNING_KEY``) on every command that opens a docket.

A worker started from the CLI with the key runs signed work and sets forged
work aside ("bad signature"), on memory and on a real Redis; ``snapshot``
decodes signed arguments only with the key (it refuses memory:// URLs, so it
runs on Redis only); the key never shows in output.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner, Result

from docket import Docket
from docket.cli import app
from tests.engine_urls import docket_url

__all__ = ["docket_url"]

T = TypeVar("T")

KEY = "key-marker-5d1c"
runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env=env)


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKET_SIGNING_KEY", raising=False)


@pytest.fixture
def where(docket_url: str) -> Iterator[tuple[str, str]]:
    """A fresh docket name, on its own memory:// URL or on the suite's Redis."""
    name = f"cli-signing-{uuid.uuid4().hex[:10]}"
    yield name, f"memory://{name}" if docket_url == "memory://" else docket_url


def with_docket(name: str, url: str, work: Callable[[Docket], Awaitable[T]], **options: Any) -> T:
    async def main() -> T:
        async with Docket(name, url, **options) as docket:
            return await work(docket)

    return asyncio.run(main())


def plant(name: str, url: str, producer_key: Any) -> None:
    """One signed trace and one unsigned (forged) one."""

    async def signed(docket: Docket) -> None:
        await docket.add("trace", key="signed")("signed-hello")

    async def forged(docket: Docket) -> None:
        await docket.add("trace", key="forged")("forged-hello")

    with_docket(name, url, signed, signing_key=producer_key)
    with_docket(name, url, forged)


def letters(name: str, url: str) -> list[str]:
    async def read(docket: Docket) -> list[str]:
        return [letter.key or "" for letter in await docket.dead_letters(reason="bad signature")]

    return with_docket(name, url, read, signing_key=KEY)


def run_worker(name: str, url: str, *extra: str, env: dict[str, str] | None = None) -> Result:
    return invoke(
        "worker", "--docket", name, "--url", url, "--until-finished",
        "--logging-format", "plain", *extra, env=env,
    )  # fmt: skip


def test_every_command_that_opens_a_docket_takes_the_option() -> None:
    from docket.cli.signing import MARK, _commands

    opening = [info for info in _commands(app) if info.callback is not None]
    wrapped = [info for info in opening if getattr(info.callback, MARK, False)]
    names = {info.name or info.callback.__name__ for info in wrapped}
    assert {"worker", "snapshot", "strike", "restore", "clear", "watch"} <= names
    for command in (["worker"], ["snapshot"], ["clear"], ["workers", "ls"], ["dead-letters", "ls"]):
        result = invoke(*command, "--help")
        assert result.exit_code == 0, result.output
        assert "--signing-key" in result.stdout and "DOCKET_SIGNING_KEY" in result.stdout


def test_the_worker_runs_signed_work_and_sets_forged_work_aside(where: tuple[str, str]) -> None:
    name, url = where
    plant(name, url, KEY)
    result = run_worker(name, url, "--signing-key", KEY)
    assert result.exit_code == 0, result.output
    assert "signed-hello" in result.output and "forged-hello" not in result.output
    assert KEY not in result.output
    assert letters(name, url) == ["forged"]


def test_the_key_comes_from_the_environment(where: tuple[str, str]) -> None:
    name, url = where
    plant(name, url, KEY)
    result = run_worker(name, url, env={"DOCKET_SIGNING_KEY": KEY})
    assert result.exit_code == 0, result.output
    assert "signed-hello" in result.output and "forged-hello" not in result.output
    assert letters(name, url) == ["forged"]


def test_a_key_list_verifies_with_every_key(where: tuple[str, str]) -> None:
    """Rotation from the CLI: the new key signs, the old one still verifies."""
    name, url = where
    plant(name, url, KEY)
    result = run_worker(name, url, "--signing-key", f"new-key,{KEY}")
    assert result.exit_code == 0, result.output
    assert "signed-hello" in result.output and "forged-hello" not in result.output


def test_an_empty_key_in_the_list_is_one_line_without_the_keys(where: tuple[str, str]) -> None:
    name, url = where
    result = run_worker(name, url, "--signing-key", f"{KEY},,")
    assert result.exit_code != 0
    assert "signing_key[1] must not be empty" in result.stderr
    assert KEY not in result.output


def test_snapshot_decodes_signed_arguments_only_with_the_key(redis_server_url: str) -> None:
    name = f"cli-signing-{uuid.uuid4().hex[:10]}"

    async def add(docket: Docket) -> None:
        await docket.add("trace", key="signed")("an argument")

    with_docket(name, redis_server_url, add, signing_key=KEY)
    keyed = invoke("snapshot", "--docket", name, "--url", redis_server_url, "--signing-key", KEY)
    assert keyed.exit_code == 0, keyed.output
    assert "trace(...)" in keyed.stdout and "cannot be decoded" not in keyed.stdout
    assert KEY not in keyed.output
    bare = invoke("snapshot", "--docket", name, "--url", redis_server_url)
    assert bare.exit_code == 0, bare.output
    assert "trace(<arguments cannot be decoded: BadSignature" in bare.stdout


def test_a_docket_the_command_builds_itself_gets_the_key_too() -> None:
    """The dashboard builds its own Docket: it reads DOCKET_SIGNING_KEY, set for the run."""
    import os

    import typer

    from docket.cli.signing import add_signing_key_option

    own = typer.Typer()

    @own.command()
    def build(url: str = "memory://own-docket") -> None:
        typer.echo(f"signed={Docket(url=url).codec.signed}")

    @own.command()
    def other() -> None:
        """Takes no url: no option."""

    add_signing_key_option(own)
    assert runner.invoke(own, ["build", "--signing-key", KEY]).stdout == "signed=True\n"
    assert runner.invoke(own, ["build"]).stdout == "signed=False\n"
    assert "DOCKET_SIGNING_KEY" not in os.environ
    assert "--signing-key" not in runner.invoke(own, ["other", "--help"]).stdout
