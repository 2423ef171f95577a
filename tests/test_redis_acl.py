"""The ACL of docs/security.md is enough for one docket, and no more.

The ``ACL SETUSER`` line is read from the page itself, so the documented
ACL is the tested one.  On a real ``redis-server`` whose default user is
switched off, a user made by that line (for a docket of this test's own
name) runs a producer, a worker and the CLI through every kind of work
docket stores (future, retried, gated, debounced, limited, progress,
dead letters, strikes, cancellations); ``ACL LOG`` must then hold no
denial.  The same user is then refused on another docket's keys and
channels and on commands beyond the list.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
import redis
from cli_support.harness import docket_cli
from redis.exceptions import NoPermissionError, ResponseError

from docket import (
    ConcurrencyLimit,
    Cooldown,
    Debounce,
    Docket,
    Progress,
    RateLimit,
    Retry,
    Worker,
)
from docket.states import ExecutionState

SECURITY = Path(__file__).resolve().parent.parent / "docs" / "security.md"
PASSWORD = "acl-test-pw-" + uuid.uuid4().hex[:8]


def documented_acl(name: str, user: str) -> list[str]:
    """The page's ``ACL SETUSER`` arguments, for docket ``name`` and user ``user``."""
    text = SECURITY.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith("ACL SETUSER ")]
    assert len(lines) == 1, "docs/security.md must give exactly one ACL SETUSER line"
    words = lines[0].split()[2:]
    assert words[0] == "orders-app" and "~{orders}:*" in words and "&{orders}:*" in words
    rules = [word.replace("{orders}", "{" + name + "}") for word in words[1:]]
    return [user, *(f">{PASSWORD}" if rule == ">app-password" else rule for rule in rules)]


@dataclass(frozen=True)
class Server:
    admin_url: str
    """The default user's URL (it stays on, for the test's own checks)."""
    port: int
    name: str
    """The docket the ACL user is limited to."""
    user: str

    @property
    def url(self) -> str:
        return f"redis://{self.user}:{PASSWORD}@127.0.0.1:{self.port}/0"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    from conformance.redis_server import RedisUnavailable, start_redis_server

    try:
        started = start_redis_server(extra_args=["--protected-mode", "no"])
    except RedisUnavailable as error:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}:
            pytest.fail(f"CI must run the ACL tests, but no redis-server started: {error}")
        pytest.skip(f"no redis-server available: {error}")
    try:
        if "@" in started.url:
            pytest.skip("the ACL test needs a server of its own, not DOCKET_TEST_REDIS_URL")
        port = int(started.url.rsplit(":", 1)[1].split("/")[0])
        name = "acl-" + uuid.uuid4().hex[:8]
        admin = redis.Redis.from_url(started.url)
        admin.execute_command("ACL", "SETUSER", *documented_acl(name, "docket-acl"))
        admin.close()
        yield Server(started.url, port, name, "docket-acl")
    finally:
        started.stop()


def denials(server: Server) -> list[dict[str, Any]]:
    """The ACL LOG entries of the limited user (what it was refused)."""
    admin = redis.Redis.from_url(server.admin_url, decode_responses=True)
    try:
        entries = admin.execute_command("ACL", "LOG")
    finally:
        admin.close()
    found = []
    for entry in entries:
        fields = (
            dict(zip(entry[::2], entry[1::2], strict=True)) if isinstance(entry, list) else entry
        )
        if fields.get("username") == server.user:
            found.append(fields)
    return found


def reset_log(server: Server) -> None:
    admin = redis.Redis.from_url(server.admin_url)
    admin.execute_command("ACL", "LOG", "RESET")
    admin.close()


calls: list[str] = []


async def plain(n: int) -> int:
    return n * 2


async def flaky(retry: Retry = Retry(attempts=3)) -> str:
    calls.append("flaky")
    if calls.count("flaky") < 2:
        raise RuntimeError("once")
    return "second time"


async def limited(
    customer: Annotated[int, ConcurrencyLimit(1)],
    progress: Progress = Progress(),
) -> None:
    await progress.set_total(2)
    await progress.increment()
    await progress.set_message("half")
    await progress.increment()


async def cooled(customer: Annotated[int, Cooldown(timedelta(minutes=5))]) -> None:
    calls.append(f"cooled {customer}")


async def rated(rate: RateLimit = RateLimit(5, per=timedelta(minutes=1))) -> None:
    calls.append("rated")


async def debounced(debounce: Debounce = Debounce(timedelta(milliseconds=50))) -> None:
    calls.append("debounced")


async def stuck() -> None:
    await asyncio.sleep(60)


async def unknown_to_the_worker() -> None:
    raise AssertionError("the worker does not know this task")


async def test_a_producer_and_a_worker_run_as_the_acl_user(server: Server) -> None:
    reset_log(server)
    async with Docket(server.name, server.url) as docket:
        for task in (plain, flaky, limited, cooled, rated, debounced, stuck):
            docket.register(task)
        doubled = await docket.add(plain)(21)
        retried = await docket.add(flaky)()
        gated = [await docket.add(limited)(7) for _ in range(2)]
        await docket.add(cooled)(1)
        await docket.add(rated)()
        for _ in range(3):
            await docket.add(debounced)()
        async with Docket(server.name, server.url) as other_producer:
            other_producer.register(unknown_to_the_worker)
            await other_producer.add(unknown_to_the_worker)()
        events: list[Any] = []
        ready = asyncio.Event()

        async def follow() -> None:
            async for event in doubled.subscribe(ready=ready):
                events.append(event)

        following = asyncio.create_task(follow())
        await asyncio.wait_for(ready.wait(), 10)
        async with Worker(
            docket,
            minimum_check_interval=timedelta(milliseconds=20),
            unknown_task_grace=timedelta(0),
        ) as worker:
            await worker.run_until_finished()
            assert [info.name for info in await docket.workers()] == [worker.name]
            running = await docket.add(stuck)()
            run = asyncio.create_task(worker.run_until_finished())
            for _ in range(500):
                if (await docket.get_execution(running.key)).state is ExecutionState.RUNNING:  # type: ignore[union-attr]
                    break
                await asyncio.sleep(0.01)
            await docket.cancel(running.key)
            await asyncio.wait_for(run, 20)
        await asyncio.wait_for(following, 10)
        assert await doubled.get_result() == 42
        assert await retried.get_result() == "second time"
        for execution in gated:
            await execution.sync()
            assert execution.state is ExecutionState.COMPLETED
        assert events[-1]["state"] is ExecutionState.COMPLETED or events[-1]["state"] == "completed"
        letters = await docket.dead_letters()
        assert [letter.function_name for letter in letters] == ["unknown_to_the_worker"]
        assert await docket.purge_dead_letters(everything=True) == 1
        await docket.strike(plain, "n", "==", 5)
        assert (await docket.add(plain)(5)).disposition.value == "struck"
        await docket.restore(plain, "n", "==", 5)
        # Scheduled after the worker ran: run_until_finished waits for future work.
        later = await docket.add(plain, when=docket.clock.now() + timedelta(hours=1))(1)
        await docket.replace(plain, docket.clock.now() + timedelta(hours=2), later.key)(2)
        snapshot = await docket.snapshot()
        assert [e.key for e in snapshot.future] == [later.key]
        assert await docket.clear() == 1
        async with docket.redis() as client:
            # The user's own data beside the docket is under the same pattern,
            # with whatever commands the ACL grants.
            await client.hset(docket.key("mine"), "field", "value")
            assert await client.hget(docket.key("mine"), "field") == b"value"
    assert denials(server) == []


def test_the_cli_runs_as_the_acl_user(server: Server) -> None:
    reset_log(server)

    async def prepare() -> None:
        async with Docket(server.name, server.url) as docket:
            await docket.clear()
            await docket.add(plain, when=docket.clock.now() + timedelta(hours=1))(3)

    asyncio.run(prepare())
    where = ("--docket", server.name, "--url", server.url)
    for command in (
        ("snapshot", *where),
        ("workers", "ls", *where),
        ("strike", "plain", "n", "==", "int:3", *where),
        ("restore", "plain", "n", "==", "int:3", *where),
        ("clear", *where),
    ):
        finished = docket_cli(*command)
        assert finished.returncode == 0, f"{command}: {finished.stdout}\n{finished.stderr}"
        assert PASSWORD not in finished.stdout + finished.stderr
    assert "Cleared 1 task" in finished.stdout
    assert denials(server) == []


def test_the_acl_user_cannot_touch_another_docket(server: Server) -> None:
    other = "{someone-else}:"
    admin = redis.Redis.from_url(server.admin_url)
    admin.hset(other + "strikes", "rule", "x")
    admin.close()
    client = redis.Redis(port=server.port, username=server.user, password=PASSWORD)
    try:
        for command in (
            ("HGETALL", other + "strikes"),
            ("HSET", other + "strikes", "rule", "forged"),
            ("XADD", other + "stream", "*", "forged", "1"),
            ("DEL", other + "strikes"),
            ("PUBLISH", other + "strike-changes", "rule"),
            ("SUBSCRIBE", other + "events:k"),
            ("GET", "plain-key"),
            ("KEYS", "*"),
            ("SCAN", "0"),
            ("FLUSHALL",),
            ("CONFIG", "GET", "*"),
            ("EVAL", "return 1", "0"),
            ("SCRIPT", "FLUSH"),
        ):
            with pytest.raises(NoPermissionError):
                client.execute_command(*command)
        # A script of docket's own, loaded by the user, is still held to the key pattern.
        sha = client.script_load("return redis.call('HGETALL', KEYS[1])")
        with pytest.raises(ResponseError, match="(?i)no permissions|NOPERM"):
            client.evalsha(sha, 1, other + "strikes")
        # Its own docket's keys it may use.
        assert client.hgetall("{" + server.name + "}:strikes") is not None
    finally:
        client.close()

    async def open_another() -> None:
        async with Docket("someone-else", server.url):
            pass

    with pytest.raises(NoPermissionError) as refused:
        asyncio.run(open_another())
    assert PASSWORD not in str(refused.value)
    assert re.search("(?i)no permissions", str(refused.value))
