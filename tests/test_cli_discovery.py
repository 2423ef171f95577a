"""Finding the dockets at one URL (``docket.discovery``), ``docket ls``, and the worker's warning
when its own docket is empty while another in the same database has work.

Each test gets a database of its own: a ``memory://`` URL no other test uses,
or database 11 of the suite's real Redis, emptied first, so the dockets other
tests leave behind never show up.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio
from typer.testing import CliRunner

from docket import Docket, Worker
from docket.cli import app
from docket.cli.serving import WorkerSettings, serve
from docket.discovery import find_dockets, marker_name, summarize_docket, work_counts
from docket.engines.records import QueueCounts

runner = CliRunner()

DISCOVERY_DB = 11
"""The Redis database these tests own."""


async def job(value: int = 0) -> None:
    """Only its name travels."""


def database_url(server_url: str) -> str:
    """``server_url`` with its database number set to ``DISCOVERY_DB``."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{DISCOVERY_DB}"))


@pytest.fixture
async def redis_db(redis_server_url: str) -> AsyncIterator[str]:
    """The suite's Redis, database ``DISCOVERY_DB``, empty."""
    url = database_url(redis_server_url)
    client = redis.asyncio.Redis.from_url(url)
    try:
        await client.flushdb()
        yield url
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database with no dockets in it, on memory and on real Redis."""
    if request.param == "memory":
        yield f"memory://discovery-{uuid.uuid4().hex[:10]}"
    else:
        yield request.getfixturevalue("redis_db")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_an_empty_database_has_no_dockets(url: str) -> None:
    assert await find_dockets(url) == []


async def test_every_opened_docket_is_found_and_only_those(url: str) -> None:
    first, second = unique("orders"), unique("emails")
    for name in (first, second):
        async with Docket(name, url):
            pass
    assert await find_dockets(url) == sorted([first, second])
    assert await find_dockets(f"memory://elsewhere-{uuid.uuid4().hex}") == []


async def test_keys_that_only_look_like_a_marker_are_not_dockets(redis_db: str) -> None:
    name = unique("real")
    async with Docket(name, redis_db) as docket:
        # A task key ending in "}:stream" has a record that matches the pattern.
        await docket.add(job, key="x}:stream", when=docket.clock.now() + timedelta(hours=1))()
    client = redis.asyncio.Redis.from_url(redis_db)
    try:
        await client.set("{imposter}:stream", "a string, not a stream")
        await client.xadd("plain-stream", {"a": "b"})
    finally:
        await client.aclose()
    assert await find_dockets(redis_db) == [name]


def test_marker_names() -> None:
    assert marker_name("{orders}:stream") == "orders"
    assert marker_name("{a b}:stream") == "a b"
    for key in ("{}:stream", "{a}:runs:x}:stream", "orders:stream", "{a}:streams", "{a"):
        assert marker_name(key) is None, key


async def test_a_cluster_url_is_refused_naming_it_without_its_password() -> None:
    with pytest.raises(ValueError, match="redis\\+cluster://") as raised:
        await find_dockets("redis+cluster://:hunter2@127.0.0.1:7000")
    assert "hunter2" not in str(raised.value)


async def test_summaries_count_work_by_state_and_live_workers(url: str) -> None:
    name = unique("counted")
    async with Docket(name, url) as docket:
        now = docket.clock.now()
        await docket.add(job, when=now + timedelta(hours=1))(1)
        await docket.add(job, when=now + timedelta(hours=2))(2)
        await docket.add(job)(3)
    summary = await summarize_docket(url, name)
    assert (summary.name, summary.scheduled, summary.queued, summary.running) == (name, 2, 1, 0)
    assert summary.workers == 0
    assert summary.pending == 3


async def test_work_counts_agree_with_each_dockets_own(url: str) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        started.set()
        await release.wait()

    busy, waiting = unique("busy"), unique("waiting")
    async with Docket(waiting, url) as docket:
        await docket.add(job, when=docket.clock.now() + timedelta(hours=1))(1)
        await docket.add(job)(2)
    async with Docket(busy, url) as docket:
        docket.register(hold)
        await docket.add(hold)()
        await docket.add(hold, when=docket.clock.now() + timedelta(hours=1))()
        async with Worker(docket, concurrency=1) as worker:
            running = asyncio.create_task(worker.run_forever())
            await asyncio.wait_for(started.wait(), 10)  # a bound, not a pause
            counted = await work_counts(url, [busy, waiting, unique("never-opened")])
            release.set()
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert counted[busy] == QueueCounts(future=1, queued=0, running=1)
    assert counted[waiting] == QueueCounts(future=1, queued=1, running=0)
    assert await work_counts(url, []) == {}


# -- the worker's warning ---------------------------------------------------------------------


async def run_worker_on(url: str, name: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Run a worker for ``name`` until it is finished; its WARNING lines."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="docket.cli"):
        code = await serve(
            WorkerSettings(docket_name=name, url=url, tasks=[job], until_finished=True)
        )
    assert code == 0
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_a_worker_on_an_empty_docket_names_the_dockets_with_work(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    busy, idle, wrong = unique("busy"), unique("idle"), unique("wrong")
    async with Docket(busy, url) as docket:
        await docket.add(job, when=docket.clock.now() + timedelta(hours=1))(1)
        await docket.add(job)(2)
    async with Docket(idle, url):
        pass
    warnings = await run_worker_on(url, wrong, caplog)
    assert len(warnings) == 1, warnings
    assert f"Docket {wrong!r} has no work" in warnings[0]
    assert f"{busy!r} (1 scheduled, 1 queued)" in warnings[0]
    assert idle not in warnings[0]
    assert "--docket" not in warnings[0] and "docket_name" in warnings[0]


async def test_a_worker_whose_docket_has_work_does_not_warn(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    busy, mine = unique("busy"), unique("mine")
    async with Docket(busy, url) as docket:
        await docket.add(job, when=docket.clock.now() + timedelta(hours=1))(1)
    async with Docket(mine, url) as docket:
        await docket.add(job)(1)
    assert await run_worker_on(url, mine, caplog) == []


async def test_a_worker_alone_in_its_database_does_not_warn(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert await run_worker_on(url, unique("alone"), caplog) == []


# -- docket ls ----------------------------------------------------------------------------------


@pytest.fixture(params=["redis", "fakeredis"])
def server_url(request: pytest.FixtureRequest) -> str:
    """``docket ls`` needs a server: the real one, or an in-process fakeredis."""
    if request.param == "redis":
        found: str = request.getfixturevalue("redis_db")
        return found
    pytest.importorskip("fakeredis")
    return f"fakeredis://discovery-{uuid.uuid4().hex[:10]}"


def test_ls_lists_each_docket_with_its_work_and_workers(server_url: str) -> None:
    busy, idle = unique("busy"), unique("idle")

    async def setup() -> None:
        async with Docket(busy, server_url) as docket:
            await docket.add(job, when=docket.clock.now() + timedelta(hours=1))(1)
            await docket.add(job)(2)
            await docket.add(job)(3)
        async with Docket(idle, server_url):
            pass

    asyncio.run(setup())
    result = runner.invoke(app, ["ls", "--url", server_url])
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line.split()[2:] for line in result.stdout.splitlines() if "│" in line}
    assert rows[busy] == ["│", "1", "│", "2", "│", "0", "│", "0", "│"]
    assert rows[idle] == ["│", "0", "│", "0", "│", "0", "│", "0", "│"]
    assert result.stdout.strip().endswith(f"2 dockets at {server_url}")


def test_ls_of_an_empty_database_says_so(redis_db: str) -> None:
    result = runner.invoke(app, ["ls", "--url", redis_db])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"0 dockets at {redis_db}"


def test_ls_errors_are_one_line_without_the_password() -> None:
    result = runner.invoke(app, ["ls", "--url", "redis://:hunter2@127.0.0.1:1/0"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: cannot reach redis://:***@127.0.0.1:1/0")
    assert "hunter2" not in result.output
    cluster = runner.invoke(app, ["ls", "--url", "redis+cluster://127.0.0.1:1"])
    assert cluster.exit_code == 1
    assert "spreads them over several masters" in cluster.stderr
