"""No password and no signing key in any message: every error path, driven with a marker.

Each password here is a unique marker no source line contains.  The tests
drive every path that quotes a URL or a key: malformed URLs of every scheme,
a real ``redis-server`` refusing a wrong password, unreachable hosts, a
closed docket, ``repr``/``str`` of Docket, Worker, Execution and StrikeList,
the CLI with bad, unreachable and wrongly authenticated URLs, and a worker
logging at DEBUG in plain and JSON form.  Everything a person could see is
collected (``str``, ``repr``, attributes and the formatted traceback of
each exception with its ``__cause__``/``__context__`` chain, log lines, CLI
output) and no marker may be in it.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import redis
from typer.testing import CliRunner

from docket import Docket, StrikeList, Worker
from docket.cli import app
from docket.urls import redact_url, scrub

MARKER = "mk" + uuid.uuid4().hex
"""The right password (and, where there is one, the signing key)."""
WRONG = "wr" + uuid.uuid4().hex
"""A wrong password, which must not show either."""
MARKERS = (MARKER, WRONG)
ROOT = Path(__file__).resolve().parent.parent

MALFORMED = [
    f"redis://user:{MARKER}@localhost:notaport/0",
    f"redis://user:{MARKER}@localhost/0?colour=blue",
    f"redis://localhost/0?password={MARKER}&colour=blue",
    f"redis://user:{MARKER}@localhost/0?ssl_ca_certs=/ca.pem",
    f"rediss://user:{MARKER}@localhost/0?ssl_ca_cert=/ca.pem",
    f"rediss://user:{MARKER}@localhost/0?ssl_password={WRONG}&ssl_cert_reqs=always",
    f"rediss://localhost/0?ssl_password={MARKER}&ssl_check_hostname=perhaps",
    f"redis+sentinel://user:{MARKER}@h1:26379",
    f"redis+sentinel://user:{MARKER}@h1:port/svc",
    f"redis+sentinel://h1/svc/notadb?sentinel_password={MARKER}",
    f"redis+sentinel://user:{MARKER}@h1/svc?ssl=maybe",
    f"redis+sentinel://h1/svc?sentinel_password={MARKER}&ssl_keyfle=/k",
    f"redis+cluster://user:{MARKER}@h1:7000/3",
    f"redis+cluster://user:{MARKER}@h1:7000,:7001",
    f"redis+cluster://user:{MARKER}@h1?ssl_ca_certs=/ca.pem",
    f"redis+cluster://user:p%40{MARKER}@h1?socket_timeout=soon",
    f"http://user:{MARKER}@localhost/0",
    f"user:{MARKER}@localhost:6379/0",
]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"user:{MARKER}@h:6379/0", "user:***@h:6379/0"),
        (f"redis://u:{MARKER}@[::1/0", "redis://u:***@[::1/0"),
        (f"redis://u:p%40{MARKER}@h/0", "redis://u:***@h/0"),
        (f"redis://u:p@{MARKER}@h/0", "redis://u:***@h/0"),
        (f"redis://h/0?a=1&PassWord={MARKER}#x", "redis://h/0?a=1&PassWord=***#x"),
        (f"redis://h/0?ssl_pass%77ord={MARKER}", "redis://h/0?ssl_pass%77ord=***"),
        ("memory://", "memory://"),
        ("redis://h:6379/0?db=1", "redis://h:6379/0?db=1"),
    ],
)
def test_redact_url_hides_passwords_by_the_text(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert scrub(f"quoting {url} and {unquote(url)}", url).count(MARKER) == 0


def exposed(error: BaseException) -> str:
    """Everything a person or an error tracker could see of ``error`` and its chain."""
    seen: list[str] = ["".join(traceback.format_exception(error))]
    stack: list[BaseException] = [error]
    visited: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        seen += [str(current), repr(current), repr(current.args)]
        seen.append(repr(getattr(current, "__dict__", {})))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
        stack.extend(getattr(current, "exceptions", ()))
    return "\n".join(seen)


def assert_clean(text: str, where: str) -> None:
    for marker in MARKERS:
        assert marker not in text, f"a password leaked through {where}:\n{text}"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Every log line at DEBUG and above, formatted plain and as JSON."""
    from docket.cli.logs import LogFormat, _handler

    lines: list[str] = []

    class Keep(logging.Handler):
        def __init__(self, formatter: logging.Formatter | None) -> None:
            super().__init__(logging.DEBUG)
            self.setFormatter(formatter)

        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    root = logging.getLogger()
    handlers = [Keep(_handler(kind).formatter) for kind in (LogFormat.PLAIN, LogFormat.JSON)]
    previous = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    try:
        yield lines
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(previous)
    assert_clean("\n".join(lines) + caplog.text, "a log line")


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    """The port of a real redis-server whose default user's password is MARKER."""
    from conformance.redis_server import RedisUnavailable, start_redis_server

    try:
        started = start_redis_server(extra_args=["--protected-mode", "no"])
    except RedisUnavailable as error:
        pytest.skip(f"no redis-server available: {error}")
    try:
        if "@" in started.url or started.process is None:
            pytest.skip("needs a server of its own, not DOCKET_TEST_REDIS_URL")
        admin = redis.Redis.from_url(started.url)
        admin.execute_command("ACL", "SETUSER", "alice", "on", f">{MARKER}", "~*", "&*", "+@all")
        admin.config_set("requirepass", MARKER)
        admin.close()
        yield int(started.url.rsplit(":", 1)[1].split("/")[0])
    finally:
        started.stop()


def closed_port() -> int:
    from conformance.redis_server import free_port

    return free_port()


def refused_urls(port: int) -> list[str]:
    """URLs that parse but cannot be used: wrong passwords, or nothing listening."""
    dead = closed_port()
    return [
        f"redis://:{WRONG}@127.0.0.1:{port}/0",
        f"redis://alice:{WRONG}@127.0.0.1:{port}/0",
        f"redis://127.0.0.1:{port}/0?password={WRONG}",
        f"redis://alice:{MARKER}@127.0.0.1:{dead}/0",
        # A TLS handshake with a server that speaks none: it times out.
        f"rediss://alice:{MARKER}@127.0.0.1:{port}/0?ssl_password={WRONG}"
        "&socket_connect_timeout=0.5",
        f"redis+sentinel://u:{MARKER}@127.0.0.1:{dead}/svc?sentinel_password={WRONG}",
        f"redis+cluster://u:{MARKER}@127.0.0.1:{dead}",
        f"redis+cluster://alice:{WRONG}@127.0.0.1:{port}",
    ]


async def plain_task(n: int) -> int:
    return n


async def failing_task(n: int) -> int:
    raise RuntimeError(f"failed on {n}")


async def caught(action: Callable[[], Awaitable[Any]]) -> BaseException:
    try:
        await asyncio.wait_for(action(), 30)
    except Exception as error:
        return error
    raise AssertionError("expected an error")


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_url_never_shows_its_password(url: str, logs: list[str]) -> None:
    for build in (lambda: Docket("secrets", url), lambda: StrikeList(url, "secrets")):
        with pytest.raises((ValueError, TypeError)) as refused:
            build()
        assert_clean(exposed(refused.value), f"the error for {url}")


async def test_refused_and_unreachable_servers_never_show_a_password(
    server: int, logs: list[str]
) -> None:
    for url in refused_urls(server):

        async def open_it(url: str = url) -> None:
            async with Docket("secrets", url):
                pass

        error = await caught(open_it)
        assert_clean(exposed(error), f"the error opening {url}")


async def test_repr_and_errors_of_an_open_and_a_closed_docket(server: int, logs: list[str]) -> None:
    url = f"redis://alice:{MARKER}@127.0.0.1:{server}/0?socket_timeout=5"
    async with Docket("secrets", url) as docket:
        shown = [repr(docket), str(docket), repr(docket.engine), repr(docket.strike_list)]
        good = await docket.add(plain_task)(1)
        bad = await docket.add(failing_task)(2)
        async with Worker(docket) as worker:
            shown += [repr(worker), str(worker)]
            await worker.run_until_finished()
        shown += [repr(good), str(good), repr(bad)]
        shown.append(exposed(await caught(bad.get_result)))
        assert await good.get_result() == 1
    assert_clean("\n".join(shown), "a repr")
    for action in (
        lambda: docket.add(plain_task)(3),
        docket.snapshot,
        docket.clear,
        lambda: docket.get_execution("k"),
        docket.workers,
    ):
        assert_clean(exposed(await caught(action)), "an error of a closed docket")


async def test_a_worker_losing_its_server_never_shows_a_password(logs: list[str]) -> None:
    from conformance.redis_server import RedisUnavailable, start_redis_server

    try:
        lost = start_redis_server(extra_args=["--protected-mode", "no"])
    except RedisUnavailable as error:
        pytest.skip(f"no redis-server available: {error}")
    try:
        if lost.process is None:
            pytest.skip("needs a server of its own, not DOCKET_TEST_REDIS_URL")
        admin = redis.Redis.from_url(lost.url)
        admin.config_set("requirepass", MARKER)
        admin.close()
        url = lost.url.replace("redis://", f"redis://:{MARKER}@")
        async with Docket("secrets-lost", url) as docket:
            async with Worker(docket) as worker:
                running = asyncio.create_task(worker.run_forever())
                await docket.add(plain_task)(1)
                await asyncio.sleep(0.3)
                lost.stop()  # the worker's connections break, and reconnecting fails
                await asyncio.sleep(2)
                running.cancel()
                with pytest.raises((asyncio.CancelledError, Exception)) as ended:
                    await running
                assert_clean(exposed(ended.value), "the worker's end")
    except Exception as error:
        assert_clean(exposed(error), "a lost server's error")
    finally:
        lost.stop()
    assert any("127.0.0.1" in line or "connect" in line.lower() for line in logs)


def cli_commands(name: str) -> list[list[str]]:
    where = ["--docket", name]
    return [
        ["snapshot", *where],
        ["workers", "ls", *where],
        ["workers", "for-task", "trace", *where],
        ["strike", "trace", *where],
        ["restore", "trace", *where],
        ["strikes", "ls", *where],
        ["clear", *where],
        ["dead-letters", "ls", *where],
        ["tasks", "trace", *where],
        ["watch", "some-key", *where],
        ["worker", "--until-finished", *where],
        ["ls"],
    ]


def test_the_cli_never_shows_a_password(server: int, logs: list[str]) -> None:
    runner = CliRunner()
    # Wrong passwords and a dead host on redis://, and malformed URLs of each
    # kind; the slower refusals (sentinel, cluster, TLS) go through the same
    # reporting, and are covered once each by the library's test above.
    urls = [*MALFORMED[:3], MALFORMED[7], MALFORMED[12], *refused_urls(server)[:4]]
    for url in urls:
        for command in cli_commands("secrets"):
            result = runner.invoke(app, [*command, "--url", url])
            assert result.exit_code != 0, (command, url, result.output)
            seen = result.output + repr(result.exception)
            if result.exc_info is not None and result.exception is not None:
                seen += exposed(result.exception)
            assert_clean(seen, f"docket {' '.join(command)} --url {url}")


async def test_a_signing_key_never_shows(logs: list[str]) -> None:
    for key in (MARKER, MARKER.encode(), [MARKER, WRONG]):
        docket = Docket("secrets", "memory://secrets", signing_key=key)
        assert_clean(repr(docket) + str(docket) + repr(vars(docket)), "a signed docket's repr")
    for bad in ([MARKER, 7], ["", MARKER], [MARKER, ""], (MARKER, None)):
        with pytest.raises((TypeError, ValueError)) as refused:
            Docket("secrets", "memory://secrets", signing_key=bad)  # type: ignore[arg-type]
        assert_clean(exposed(refused.value), f"the error for signing_key={type(bad).__name__}")
    # Entries signed with one key, read and run by a docket with another: refused,
    # and neither key in the error, the dead letter or the worker's log.
    url = "memory://secrets-signed"
    async with Docket("secrets", url, signing_key=MARKER) as signer:
        signed = await signer.add(plain_task)(1)
        async with Worker(signer) as worker:
            await worker.run_until_finished()
        await signer.add(plain_task)(2)
    async with Docket("secrets", url, signing_key=WRONG) as other:
        other.register(plain_task)
        execution = await other.get_execution(signed.key)
        assert execution is not None
        assert_clean(exposed(await caught(execution.get_result)), "a bad signature error")
        async with Worker(other) as worker:
            await worker.run_until_finished()
        letters = await other.dead_letters()
        assert [letter.reason.split(":")[0] for letter in letters] == ["bad signature"]
        assert_clean(repr(letters), "a dead letter")


def test_the_cli_never_shows_a_signing_key(logs: list[str]) -> None:
    pytest.importorskip("fakeredis")
    runner = CliRunner()
    url = "fakeredis://secrets-cli"
    for command in (["snapshot"], ["strikes", "ls"], ["worker", "--until-finished"]):
        where = [*command, "--docket", "secrets", "--url"]
        for args, env in (
            ([*where, url, "--signing-key", MARKER], {}),
            ([*where, url, "--signing-key", f"{MARKER},{WRONG}"], {}),
            ([*where, MALFORMED[0], "--signing-key", MARKER], {}),
            ([*where, url, "--signing-key", f"{MARKER},,{WRONG}"], {}),
            ([*where, url], {"DOCKET_SIGNING_KEY": f"{MARKER},"}),
            ([*where, url], {"DOCKET_SIGNING_KEY": f",{WRONG}"}),
        ):
            result = runner.invoke(app, args, env=env)
            seen = result.output + repr(result.exception)
            if result.exception is not None:
                seen += exposed(result.exception)
            assert_clean(seen, f"docket {' '.join(command)} with a signing key")


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_worker_logging_at_debug_never_shows_a_password(server: int, log_format: str) -> None:
    url = f"redis://alice:{MARKER}@127.0.0.1:{server}/0"
    name = f"secrets-{log_format}"

    async def schedule() -> None:
        async with Docket(name, url) as docket:
            await docket.add("trace")(f"hello from {log_format}")
            await docket.add("fail")("boom")

    asyncio.run(schedule())
    finished = subprocess.run(
        [sys.executable, "-m", "docket", "worker", "--until-finished", "--docket", name]
        + ["--url", url, "--logging-level", "debug", "--logging-format", log_format],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    assert f"hello from {log_format}" in output and "boom" in output
    assert (" DEBUG - " if log_format == "plain" else '"levelname": "DEBUG"') in output
    assert_clean(output, f"a worker's {log_format} DEBUG log")
