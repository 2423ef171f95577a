"""The conformance harness: every test runs against every engine target.

A test asks for the ``target`` fixture and gets one of:

``memory-virtual``  the memory twin driven by a ``VirtualClock``
``memory-system``   the memory twin on the ``SystemClock``
``redis``           the Redis engine on a real ``redis-server``, ``SystemClock``
``redis-virtual``   the Redis engine on a real ``redis-server``, ``VirtualClock``
``fakeredis``       the Redis engine on in-process fakeredis, ``SystemClock``

Each test gets a fresh docket name (and a fresh ``memory://``/``fakeredis://``
URL), so two ``Docket`` objects made by ``target.docket()`` in one test share
their data, as a producer and a worker do in production.

Tests are written once for both kinds of clock: ``target.elapse(delta)``
advances a virtual clock (and lets the loop run) or sleeps for real on the
system clock, so tests use short deltas (0.1 to 0.5 s).  ``target.drive(aw)``
waits for an awaitable, advancing a virtual clock in steps meanwhile.  Every
wait is bounded in real time (a hang fails the test, it never blocks the run);
those bounds are guards, not timing assertions.

The real Redis server is started once per session (``DOCKET_TEST_REDIS_URL``
names an existing one instead).  If it cannot be had, the Redis targets are
skipped with a reason, except under ``CI=true``, where they fail.
``DOCKET_TEST_TARGETS=memory-virtual,redis`` limits the run to some targets.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conformance.redis_server import RedisServer, RedisUnavailable, start_redis_server

T = TypeVar("T")

HERE = Path(__file__).resolve().parent

GUARD_SECONDS = 20.0
"""How long, in real seconds, any single wait may take before the test fails as hung."""

TEST_TIMEOUT_SECONDS = 90
"""pytest-timeout's limit for one conformance test (a last-resort hang guard)."""


@dataclass(frozen=True)
class TargetSpec:
    """How one engine target is built."""

    id: str
    engine: str  # "memory" | "redis" | "fakeredis"
    virtual: bool


ALL_TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec("memory-virtual", "memory", virtual=True),
    TargetSpec("memory-system", "memory", virtual=False),
    TargetSpec("redis", "redis", virtual=False),
    TargetSpec("redis-virtual", "redis", virtual=True),
    TargetSpec("fakeredis", "fakeredis", virtual=False),
)


def in_ci() -> bool:
    """True when running under CI, where a missing Redis must fail, not skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def selected_targets() -> tuple[TargetSpec, ...]:
    """The targets named in DOCKET_TEST_TARGETS, or all of them."""
    wanted = os.environ.get("DOCKET_TEST_TARGETS", "").strip()
    if not wanted:
        return ALL_TARGETS
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    known = {spec.id: spec for spec in ALL_TARGETS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise pytest.UsageError(
            f"DOCKET_TEST_TARGETS names unknown targets {unknown}; known: {sorted(known)}"
        )
    return tuple(known[name] for name in names)


def unique_name(prefix: str = "conf") -> str:
    """A docket name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def redis_unavailable(reason: str) -> None:
    """Fail under CI, skip otherwise: a Redis target that cannot run."""
    message = f"real Redis unavailable: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: the Redis targets must run)", pytrace=False)
    pytest.skip(message)


async def _ping(url: str) -> None:
    """PING the server at ``url`` the way the engine connects (sentinel and cluster URLs too)."""
    from docket.engines.redis.connections import connect

    clients = connect(url, "{conformance}:ping")
    try:
        async with clients.deadline():
            await asyncio.wait_for(clients.commands.ping(), 5)
    finally:
        await clients.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for the whole session (or DOCKET_TEST_REDIS_URL's)."""
    try:
        server = start_redis_server()
    except RedisUnavailable as error:
        redis_unavailable(str(error))
        raise  # unreachable: redis_unavailable always raises
    try:
        asyncio.run(_ping(server.url))
    except Exception as error:  # any failure to reach it means "unavailable"
        server.stop()
        redis_unavailable(f"{server.url} does not answer PING: {error!r}")
    yield server
    server.stop()


@dataclass
class Target:
    """One engine target for one test: URL, docket name and clock, plus time helpers."""

    spec: TargetSpec
    url: str
    name: str
    clock: Any  # a docket Clock: VirtualClock or SystemClock
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list, repr=False)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def virtual(self) -> bool:
        """True when the docket's clock is a VirtualClock that only moves when told."""
        return self.spec.virtual

    @property
    def engine(self) -> str:
        """``memory``, ``redis`` or ``fakeredis``."""
        return self.spec.engine

    @property
    def is_memory(self) -> bool:
        return self.spec.engine == "memory"

    def docket(self, **kwargs: Any) -> Any:
        """A Docket (an async context manager) on this target's name, URL and clock.

        Every call with the default name sees the same data.  Keyword
        arguments go to ``Docket`` and may override ``name``, ``url``, ``clock``.
        """
        from docket import Docket

        kwargs.setdefault("name", self.name)
        kwargs.setdefault("url", self.url)
        kwargs.setdefault("clock", self.clock)
        return Docket(**kwargs)

    def now(self) -> datetime:
        """The docket clock's now."""
        return self.clock.now()  # type: ignore[no-any-return]

    def later(self, delta: timedelta | float) -> datetime:
        """The docket clock's now plus ``delta`` (seconds or a timedelta)."""
        return self.now() + as_timedelta(delta)

    async def settle(self) -> None:
        """Let the event loop run everything that is ready (and, off-memory, its I/O)."""
        for _ in range(50):
            await asyncio.sleep(0)
        if not self.is_memory:
            await asyncio.sleep(0.02)
            for _ in range(10):
                await asyncio.sleep(0)

    async def elapse(self, delta: timedelta | float) -> None:
        """Let ``delta`` pass on the docket's clock.

        A VirtualClock is advanced at once and the loop is let run; on the
        system clock this really sleeps, so keep ``delta`` short.
        """
        delta = as_timedelta(delta)
        if self.virtual:
            self.clock.advance(delta)
            await self.settle()
        else:
            await asyncio.sleep(delta.total_seconds())

    async def drive(
        self,
        awaitable: Awaitable[T],
        *,
        step: timedelta | float = 0.1,
        guard: float = GUARD_SECONDS,
    ) -> T:
        """Await ``awaitable`` to its end, letting the docket's time pass meanwhile.

        On a VirtualClock the clock advances by ``step`` whenever the loop
        has nothing else to do; on the system clock time passes by itself.
        Fails the test if the awaitable has not finished after ``guard`` real
        seconds.
        """
        task = asyncio.ensure_future(awaitable)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + guard
        step = as_timedelta(step)
        try:
            while not task.done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    pytest.fail(
                        f"[{self.id}] still waiting after {guard}s (real) for {awaitable!r}",
                        pytrace=False,
                    )
                if self.virtual:
                    await asyncio.wait({task}, timeout=0.002 if self.is_memory else 0.02)
                    if not task.done():
                        self.clock.advance(step)
                else:
                    await asyncio.wait({task}, timeout=min(remaining, 0.5))
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        return task.result()

    async def wait(self, awaitable: Awaitable[T], *, guard: float = GUARD_SECONDS) -> T:
        """Await ``awaitable`` without moving the clock; fail the test if it hangs."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task}, timeout=guard)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            pytest.fail(
                f"[{self.id}] still waiting after {guard}s (real) for {awaitable!r}",
                pytrace=False,
            )
        return task.result()

    async def eventually(
        self,
        check: Callable[[], Awaitable[bool] | bool],
        *,
        what: str = "condition",
        guard: float = GUARD_SECONDS,
    ) -> None:
        """Poll ``check`` (sync or async) until it is true, without moving the clock."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + guard
        while True:
            outcome = check()
            if isinstance(outcome, Awaitable):
                outcome = await outcome
            if outcome:
                return
            if loop.time() > deadline:
                pytest.fail(f"[{self.id}] {what} not reached after {guard}s (real)", pytrace=False)
            await asyncio.sleep(0.005)

    @asynccontextmanager
    async def running_worker(self, docket: Any, **worker_kwargs: Any) -> AsyncIterator[Any]:
        """A Worker on ``docket`` running ``run_forever()`` in the background.

        On exit the run is cancelled and the worker's context is exited; an
        exception the run raised (other than the cancellation) fails the test.
        """
        from docket import Worker

        async with Worker(docket, **worker_kwargs) as worker:
            runner = asyncio.create_task(worker.run_forever())
            try:
                yield worker
            finally:
                if runner.done() and not runner.cancelled() and runner.exception():
                    raise AssertionError(f"[{self.id}] the worker stopped with an error") from (
                        runner.exception()
                    )
                runner.cancel()
                done, _ = await asyncio.wait({runner}, timeout=GUARD_SECONDS)
                if not done:
                    worker.stop()  # so that leaving the worker's context cannot hang too
                    await asyncio.wait({runner}, timeout=GUARD_SECONDS)
                    pytest.fail(
                        f"[{self.id}] run_forever() ignored its cancellation for "
                        f"{GUARD_SECONDS}s (real)",
                        pytrace=False,
                    )


@contextmanager
def release_on_exit(gate: asyncio.Event) -> Iterator[asyncio.Event]:
    """Set ``gate`` when the block ends, however it ends.

    Tasks that wait on a gate must be let go before the worker that runs them
    stops (a stopping worker waits for its running work), or a failed
    assertion would turn into a hang.
    """
    try:
        yield gate
    finally:
        gate.set()


def assert_refused_naming(
    build: Callable[[], object], error: type[Exception], names: Iterable[str]
) -> None:
    """``build()`` raises ``error`` whose message contains every one of ``names``
    (the parameter and the value it was given)."""
    with pytest.raises(error) as raised:
        build()
    for name in names:
        assert name in str(raised.value), (name, str(raised.value))


def as_timedelta(delta: timedelta | float) -> timedelta:
    """A timedelta from a timedelta or a number of seconds."""
    return delta if isinstance(delta, timedelta) else timedelta(seconds=delta)


@pytest.fixture(params=[pytest.param(spec, id=spec.id) for spec in selected_targets()])
def target(request: pytest.FixtureRequest) -> Target:
    """One engine target (see the module docstring), fresh for each test."""
    from docket import SystemClock, VirtualClock

    spec: TargetSpec = request.param
    name = unique_name()
    if spec.engine == "memory":
        url = f"memory://{name}"
    elif spec.engine == "fakeredis":
        pytest.importorskip("fakeredis", reason="fakeredis target needs pydocket[fake]")
        url = f"fakeredis://{name}"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.url
    # The suite drives virtual time by hand (``Target.drive``) while workers
    # run; time skipping has tests of its own (test_time_skipping.py).
    clock = VirtualClock(skip_idle_time=False) if spec.virtual else SystemClock()
    return Target(spec=spec, url=url, name=name, clock=clock)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every conformance test a generous hang limit when pytest-timeout is installed."""
    if not config.pluginmanager.hasplugin("timeout"):
        return
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents and not item.get_closest_marker(
            "timeout"
        ):
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_SECONDS))


VIRTUAL_TARGETS: tuple[tuple[str, str], ...] = (
    ("memory-virtual", "memory"),
    ("redis-virtual", "redis"),
    ("fakeredis", "fakeredis"),
)
"""Harness target ids and the engine each runs on, always on a VirtualClock."""


def virtual_engine_params() -> list[Any]:
    """One pytest param per selected engine target, for fixtures that run on a VirtualClock."""
    selected = {spec.id for spec in selected_targets()}
    return [
        pytest.param(engine, id=f"{engine}-virtual")
        for target_id, engine in VIRTUAL_TARGETS
        if target_id in selected
    ]


def virtual_engine_url(request: pytest.FixtureRequest, fakeredis_name: str) -> str:
    """The base URL of the engine a ``virtual_engine_params`` fixture param names."""
    if request.param == "memory":
        return "memory://"
    if request.param == "fakeredis":
        pytest.importorskip("fakeredis", reason="the fakeredis target needs pydocket[fake]")
        return f"fakeredis://{fakeredis_name}"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url
