"""Docket: the producer side of a named docket of work.

A ``Docket`` registers task functions, schedules calls to them now or later
under keys, replaces and cancels scheduled work, and reads what is pending.
Workers connect to the same name and URL to run the work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal

from docket.cancelling import cancel_many
from docket.clock import Clock, SystemClock
from docket.dead_letters import DeadLetterMethods, check_retention
from docket.dependencies.resolution import check_task_dependencies
from docket.engines import open_engine
from docket.engines.base import DEAD_LETTER_RETENTION, Engine, WorkerInfo
from docket.execution import Execution, TaskCall
from docket.instrumentation import (
    TASKS_CANCELLED,
    producer_span,
)
from docket.registry import collection, lookup, names_for, own_name
from docket.results import set_up
from docket.scheduling import Scheduler, check_key, check_when
from docket.serialization import Codec
from docket.signing import SigningKey
from docket.snapshots import DocketSnapshot, RunningExecution, take_snapshot
from docket.strike_methods import StrikeMethods
from docket.strikelist import StrikeList
from docket.timeutil import duration_seconds
from docket.urls import redact_url

__all__ = [
    "Docket",
    "DocketSnapshot",
    "RunningExecution",
    "TaskCall",
    "TaskFunction",
    "WorkerInfo",
]

logger = logging.getLogger("docket.docket")

TaskFunction = Callable[..., Any]


class Docket(DeadLetterMethods, StrikeMethods):
    """A named docket of work at ``url``, shared by every process that opens it.

    Use it as an async context manager.  ``execution_ttl`` is how long records
    and results are kept after work ends; ``dead_letter_retention`` how long
    a worker of this docket keeps what it sets aside (see
    ``docket.dead_letters``); ``clock`` (default the system clock) decides
    every time-based question, on any engine.  Parameters in
    pydocket's order: ``result_storage`` (a py-key-value store to keep
    results in instead of the execution record, see ``docket.results``),
    ``enable_internal_instrumentation`` (spans for docket's own storage
    traffic) and ``credential_provider`` (redis-py's, for Redis credentials).
    ``signing_key`` (one key, or a list whose first signs; None reads
    ``DOCKET_SIGNING_KEY``), ``codec`` (``"pickle"`` or ``"json"``) and
    ``max_payload_size`` (bytes) decide how work is stored: see
    docs/signing.md and ``docket.serialization``.
    """

    def __init__(
        self,
        name: str = "docket",
        url: str = "redis://localhost:6379/0",
        heartbeat_interval: timedelta = timedelta(seconds=2),
        missed_heartbeats: int = 5,
        execution_ttl: timedelta = timedelta(minutes=15),
        result_storage: Any | None = None,
        enable_internal_instrumentation: bool = False,
        credential_provider: Any | None = None,
        *,
        clock: Clock | None = None,
        dead_letter_retention: timedelta = DEAD_LETTER_RETENTION,
        signing_key: SigningKey | Sequence[SigningKey] | None = None,
        codec: Literal["pickle", "json"] = "pickle",
        max_payload_size: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or any(c in name for c in "{}"):
            raise ValueError(f"name must be a non-empty string without braces, got {name!r}")
        if duration_seconds(heartbeat_interval, "heartbeat_interval") <= 0:
            raise ValueError(f"heartbeat_interval must be positive, got {heartbeat_interval!r}")
        if not isinstance(missed_heartbeats, int) or missed_heartbeats < 1:
            raise ValueError(
                f"missed_heartbeats must be a positive integer, got {missed_heartbeats!r}"
            )
        duration_seconds(execution_ttl, "execution_ttl")
        if not isinstance(enable_internal_instrumentation, bool):
            raise TypeError(
                "enable_internal_instrumentation must be a bool, "
                f"got {enable_internal_instrumentation!r}"
            )
        if clock is not None and not isinstance(clock, Clock):
            raise TypeError(f"clock must implement docket.Clock, got {clock!r}")
        self.name = name
        self.url = url
        self.heartbeat_interval = heartbeat_interval
        self.missed_heartbeats = missed_heartbeats
        self.execution_ttl = execution_ttl
        self.dead_letter_retention = check_retention(dead_letter_retention)
        self.result_storage = result_storage
        self.enable_internal_instrumentation = enable_internal_instrumentation
        self.credential_provider = credential_provider
        self.clock: Clock = clock or SystemClock()
        self.codec = Codec(codec, signing_key, max_payload_size)
        """How this docket encodes, signs and decodes what it stores."""
        self.tasks: dict[str, TaskFunction] = {}
        from docket.tasks import standard_tasks

        for builtin in standard_tasks:
            self.register(builtin)
        self._engine: Engine = open_engine(url, name, credential_provider=credential_provider)
        self._open = False
        self._scheduler = Scheduler(self)
        self.strike_list = StrikeList(
            url,
            name,
            enable_internal_instrumentation,
            credential_provider,
            engine=self._engine,
            clock=self.clock,
            codec=self.codec,
        )

    @property
    def engine(self) -> Engine:
        """The storage engine this docket runs on."""
        return self._engine

    @property
    def prefix(self) -> str:
        """The start of every key of this docket: ``{name}``, a cluster hash tag."""
        return "{" + self.name + "}"

    @property
    def worker_group_name(self) -> str:
        """The name of the group every worker of this docket claims work through."""
        return "docket-workers"

    def key(self, suffix: str) -> str:
        """The name of a key beside this docket's own, for data of yours: ``{prefix}:{suffix}``.

        It shares the docket's hash tag (one cluster slot, one ACL pattern).
        A suffix that would land on one of the docket's own keys is refused
        with ValueError.  Use it with ``redis()``.
        """
        return self._engine.user_key(suffix)

    def redis(self) -> AbstractAsyncContextManager[Any]:
        """A redis-py asyncio client for your own data beside the docket (see ``key``).

        On Redis it uses the docket's own connections; on ``memory://`` it is a
        Redis-compatible client over in-process storage shared by every
        Docket of that URL in the process::

            async with docket.redis() as redis:
                await redis.set(docket.key("last-import"), "2024-01-01", ex=3600)
        """
        return self._engine.redis()

    def labels(self) -> Mapping[str, str]:
        """The docket's labels on log records and metrics: ``docket.name``."""
        return {"docket.name": self.name}

    async def __aenter__(self) -> Docket:
        if self.result_storage is not None:
            await set_up(self.result_storage)
        await self._engine.open()
        try:
            # Work must not be scheduled or run before the strikes in force are known.
            await self.strike_list.__aenter__()
        except BaseException:
            await self._engine.close()
            raise
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open = False
        try:
            await self.strike_list.__aexit__(exc_type, exc_value, traceback)
        finally:
            await self._engine.close()

    # -- registration -----------------------------------------------------

    def register(self, function: TaskFunction, names: Iterable[str] | None = None) -> None:
        """Make ``function`` known by its ``__name__`` (or by each of ``names``)."""
        chosen = names_for(function, names)
        check_task_dependencies(function)
        for name in chosen:
            self.tasks[name] = function

    def register_collection(self, collection_path: str) -> None:
        """Register every task in the iterable named by ``"module:attribute"``."""
        for function in collection(collection_path):
            self.register(function)

    def _resolve(self, function: TaskFunction | str) -> tuple[str, TaskFunction]:
        if isinstance(function, str):
            return function, lookup(self.tasks, function, self.name)
        if not callable(function):
            raise TypeError(f"function must be a callable or a task name, got {function!r}")
        name = own_name(function)
        if self.tasks.get(name) is not function:
            self.register(function)
        return name, function

    # -- scheduling -------------------------------------------------------

    def add(
        self,
        function: TaskFunction | str,
        when: datetime | None = None,
        key: str | None = None,
    ) -> Callable[..., Awaitable[Execution]]:
        """Schedule a call of ``function`` now, or at the aware datetime ``when``.

        Returns a callable taking the task's arguments.  ``key`` defaults to a
        fresh UUID; if an execution under ``key`` is still scheduled, queued or
        running, nothing changes and the result's disposition is
        ALREADY_SCHEDULED.
        """
        check_when(when)
        check_key(key)
        name, resolved = self._resolve(function)

        def schedule(*args: Any, **kwargs: Any) -> Awaitable[Execution]:
            now = self.clock.now()
            call = self._scheduler.call(name, resolved, args, kwargs, when, key, now)
            return self._scheduler.schedule(call, replace=False, now=now)

        return schedule

    def replace(
        self,
        function: TaskFunction | str,
        when: datetime,
        key: str,
    ) -> Callable[..., Awaitable[Execution]]:
        """Atomically swap whatever is scheduled or queued under ``key`` for this call."""
        if when is None:
            raise ValueError("when is required for replace, got None")
        check_when(when)
        if key is None:
            raise ValueError("key is required for replace, got None")
        check_key(key)
        name, resolved = self._resolve(function)

        def schedule(*args: Any, **kwargs: Any) -> Awaitable[Execution]:
            now = self.clock.now()
            call = self._scheduler.call(name, resolved, args, kwargs, when, key, now)
            return self._scheduler.schedule(call, replace=True, now=now)

        return schedule

    def call(
        self,
        function: TaskFunction | str,
        when: datetime | None = None,
        key: str | None = None,
    ) -> Callable[..., TaskCall]:
        """Describe a call for ``add_many``/``replace_many``, curried like ``add``.

        Nothing is stored: the returned callable takes the task's arguments
        and returns a ``TaskCall`` whose key (a fresh one unless given) and due
        time (now unless given) are fixed at that moment.
        """
        check_when(when)
        check_key(key)
        name, resolved = self._resolve(function)

        def describe(*args: Any, **kwargs: Any) -> TaskCall:
            return self._scheduler.call(name, resolved, args, kwargs, when, key)

        return describe

    async def add_many(
        self, calls: Iterable[TaskCall], *, chunk_size: int | None = 1000
    ) -> list[Execution]:
        """``add`` each call, ``chunk_size`` calls per round trip (None: one for all).

        Each call is checked against the strikes, deduplicated by key and
        stored atomically on its own; the batch is not atomic.  One Execution
        per call, in order, whose disposition is SCHEDULED, ALREADY_SCHEDULED,
        STRUCK, or FAILED (the error is its ``schedule_exception``).
        """
        return await self._scheduler.schedule_many(calls, replace=False, chunk_size=chunk_size)

    async def replace_many(
        self, calls: Iterable[TaskCall], *, chunk_size: int | None = 1000
    ) -> list[Execution]:
        """``replace`` each call, ``chunk_size`` calls per round trip (see ``add_many``)."""
        return await self._scheduler.schedule_many(calls, replace=True, chunk_size=chunk_size)

    async def cancel(self, key: str) -> None:
        """Cancel the work under ``key``: scheduled, queued or running.

        The record says CANCELLED when this returns.  A running task is
        interrupted (``CancelledError`` inside it) by the worker running it,
        and nothing it does afterwards changes that outcome.  Cancelling
        missing or finished work does nothing.
        """
        check_key(key)
        if key is None:
            raise ValueError("key must be a non-empty string, got None")
        with producer_span("cancel", self.name, {"docket.key": key}) as span:
            cancelled = await self._engine.cancel(key, self.clock.now(), self.execution_ttl)
            span.set_attribute("docket.cancelled", cancelled)
        if cancelled:
            TASKS_CANCELLED.add(1, {"docket.name": self.name})

    async def cancel_many(
        self, keys: Iterable[str], *, chunk_size: int | None = 1000
    ) -> list[bool]:
        """``cancel`` each key in order, ``chunk_size`` keys per round trip (None: one for all).

        Returns one bool per key, in order: True where this call cancelled
        that key's scheduled, queued or running work (running work is
        interrupted as by ``cancel``), False for missing or ended work.  Each
        key is cancelled on its own; the batch is not atomic.  A key given
        twice is cancelled by its first occurrence and reads False at its
        second, as two ``cancel`` calls would.  Every key is checked before
        any is sent.  Not in pydocket.
        """
        return await cancel_many(self, keys, chunk_size)

    async def clear(self) -> int:
        """Cancel all scheduled and queued work; return how many executions."""
        return await self._engine.clear(self.clock.now(), self.execution_ttl)

    # -- reading ----------------------------------------------------------

    async def get_execution(self, key: str) -> Execution | None:
        """The execution under ``key``, or None if there is none (or it expired)."""
        check_key(key)
        record = await self._engine.get_record(key, self.clock.now())
        return None if record is None else Execution.from_record(self, record)

    async def snapshot(self) -> DocketSnapshot:
        """Read all future, queued and running work and the live workers."""
        return await take_snapshot(self)

    async def workers(self) -> list[WorkerInfo]:
        """The workers whose heartbeats are recent enough to count them alive."""
        return await self._engine.workers(self.clock.now(), self._dead_after)

    async def task_workers(self, task_name: str) -> list[WorkerInfo]:
        """The live workers that can run ``task_name``."""
        return [w for w in await self.workers() if task_name in w.tasks]

    @property
    def _dead_after(self) -> timedelta:
        return self.heartbeat_interval * self.missed_heartbeats

    def __repr__(self) -> str:
        return f"Docket(name={self.name!r}, url={redact_url(self.url)!r})"
