"""Docket: the producer side of a named docket of work.

A ``Docket`` registers task functions, schedules calls to them now or later
under keys, replaces and cancels scheduled work, and reads what is pending.
Workers connect to the same name and URL to run the work.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from docket.clock import Clock, SystemClock, utc
from docket.dependencies.resolution import check_task_dependencies, injected_parameters
from docket.engines import open_engine
from docket.engines.base import DeadLetter, Engine, TaskMessage, WorkerInfo
from docket.errors import UnknownTaskError
from docket.execution import Execution
from docket.instrumentation import (
    TASKS_ADDED,
    TASKS_CANCELLED,
    TASKS_SCHEDULED,
    TASKS_STRICKEN,
    producer_span,
    trace_headers,
)
from docket.serialization import (
    duration_seconds,
    encode_call,
    truncate_to_ms,
)
from docket.states import Disposition
from docket.strike_rules import LiteralOperator, Operator, Restore, Strike, StrikeRule
from docket.strikelist import StrikeList

__all__ = ["Docket", "DocketSnapshot", "RunningExecution", "TaskFunction"]

logger = logging.getLogger("docket.docket")

TaskFunction = Callable[..., Any]


class RunningExecution(Execution):
    """An execution a worker has claimed; ``worker`` and ``started`` are set."""

    @property
    def started(self) -> datetime | None:
        """When the worker started it (the same as ``started_at``)."""
        return self.started_at


@dataclass(frozen=True)
class DocketSnapshot:
    """Everything unfinished in a docket at the moment ``taken``.

    ``future`` holds scheduled and queued executions in due order,
    ``running`` the claimed ones, ``workers`` the live workers.
    """

    taken: datetime
    total_tasks: int
    future: list[Execution]
    running: list[RunningExecution]
    workers: list[WorkerInfo]


def _check_when(when: datetime | None, parameter: str = "when") -> None:
    if when is None:
        return
    if not isinstance(when, datetime):
        raise TypeError(f"{parameter} must be a datetime, got {when!r}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(
            f"{parameter} must be timezone-aware (e.g. datetime.now(timezone.utc)), got {when!r}"
        )


def _check_key(key: str | None) -> None:
    if key is None:
        return
    if not isinstance(key, str) or not key:
        raise ValueError(f"key must be a non-empty string, got {key!r}")


class Docket:
    """A named docket of work at ``url``, shared by every process that opens it.

    Use it as an async context manager.  ``execution_ttl`` is how long records
    and results are kept after work ends; ``clock`` (default the system clock)
    decides every time-based question, on any engine.
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
        self.result_storage = result_storage
        self.enable_internal_instrumentation = enable_internal_instrumentation
        self.credential_provider = credential_provider
        self.clock: Clock = clock or SystemClock()
        self.tasks: dict[str, TaskFunction] = {}
        from docket.tasks import standard_tasks

        for builtin in standard_tasks:
            self.register(builtin)
        self._engine: Engine = open_engine(url, name)
        self._open = False
        self.strike_list = StrikeList(
            url,
            name,
            enable_internal_instrumentation,
            credential_provider,
            engine=self._engine,
            clock=self.clock,
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

    async def wait_for_strikes_loaded(self) -> None:
        """Return once the strikes in storage are known (entering the docket waits for it)."""
        await self.strike_list.wait_for_strikes_loaded()

    # -- strikes ----------------------------------------------------------

    async def strike(
        self,
        function: TaskFunction | str | None = None,
        parameter: str | None = None,
        operator: Operator | LiteralOperator = "==",
        value: Hashable | None = None,
    ) -> None:
        """Stop a task, a parameter value of any task, or both, until restored.

        Struck work is refused by ``add`` (disposition STRUCK) and cancelled
        when a worker meets it.  Strikes reach every Docket and Worker of
        this docket's name.
        """
        rule = StrikeRule.build(function, parameter, operator, value)
        with producer_span("strike", self.name, Strike.of(rule).labels()):
            await self.strike_list.send_instruction(Strike.of(rule))

    async def restore(
        self,
        function: TaskFunction | str | None = None,
        parameter: str | None = None,
        operator: Operator | LiteralOperator = "==",
        value: Hashable | None = None,
    ) -> None:
        """Lift exactly the strike made with the same arguments."""
        rule = StrikeRule.build(function, parameter, operator, value)
        with producer_span("restore", self.name, Restore.of(rule).labels()):
            await self.strike_list.send_instruction(Restore.of(rule))

    def is_stricken(
        self,
        function_name: str,
        function: TaskFunction | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> bool:
        """Whether a call is struck by the rules in force."""
        return self.strike_list.matches_call(function_name, function, args, kwargs)

    # -- registration -----------------------------------------------------

    def register(self, function: TaskFunction, names: Iterable[str] | None = None) -> None:
        """Make ``function`` known by its ``__name__`` (or by each of ``names``)."""
        if not callable(function):
            raise TypeError(f"function must be callable, got {function!r}")
        check_task_dependencies(function)
        if names is None:
            name = getattr(function, "__name__", None)
            if not isinstance(name, str):
                raise ValueError(f"function {function!r} has no __name__; pass names=")
            chosen = [name]
        else:
            if isinstance(names, str):
                raise TypeError(f"names must be an iterable of strings, got {names!r}")
            chosen = list(names)
            if not chosen or not all(isinstance(n, str) and n for n in chosen):
                raise ValueError(f"names must be non-empty strings, got {names!r}")
        for name in chosen:
            self.tasks[name] = function

    def register_collection(self, collection_path: str) -> None:
        """Register every task in the iterable named by ``"module:attribute"``."""
        if not isinstance(collection_path, str) or collection_path.count(":") != 1:
            raise ValueError(
                f"collection_path must look like 'module:attribute', got {collection_path!r}"
            )
        module_name, attribute = collection_path.split(":")
        module = importlib.import_module(module_name)
        try:
            collection = getattr(module, attribute)
        except AttributeError:
            raise ValueError(
                f"module {module_name!r} has no attribute {attribute!r} "
                f"(collection_path={collection_path!r})"
            ) from None
        for function in collection:
            self.register(function)

    def _resolve(self, function: TaskFunction | str) -> tuple[str, TaskFunction]:
        if isinstance(function, str):
            try:
                return function, self.tasks[function]
            except KeyError:
                raise UnknownTaskError(
                    f"task {function!r} is not registered with docket {self.name!r}; "
                    f"known tasks: {sorted(self.tasks)}"
                ) from None
        if not callable(function):
            raise TypeError(f"function must be a callable or a task name, got {function!r}")
        name = getattr(function, "__name__", None)
        if not isinstance(name, str):
            raise ValueError(f"function {function!r} has no __name__; register it with names=")
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
        _check_when(when)
        _check_key(key)
        name, resolved = self._resolve(function)
        return self._scheduler(name, resolved, when, key, replace=False)

    def replace(
        self,
        function: TaskFunction | str,
        when: datetime,
        key: str,
    ) -> Callable[..., Awaitable[Execution]]:
        """Atomically swap whatever is scheduled or queued under ``key`` for this call."""
        if when is None:
            raise ValueError("when is required for replace, got None")
        _check_when(when)
        if key is None:
            raise ValueError("key is required for replace, got None")
        _check_key(key)
        name, resolved = self._resolve(function)
        return self._scheduler(name, resolved, when, key, replace=True)

    def _scheduler(
        self,
        name: str,
        function: TaskFunction,
        when: datetime | None,
        key: str | None,
        *,
        replace: bool,
    ) -> Callable[..., Awaitable[Execution]]:
        def schedule(*args: Any, **kwargs: Any) -> Awaitable[Execution]:
            _check_arguments(name, function, args, kwargs)
            payload = encode_call(name, args, kwargs, function)
            return self._schedule(name, function, args, kwargs, payload, when, key, replace)

        return schedule

    async def _schedule(
        self,
        name: str,
        function: TaskFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        payload: bytes,
        when: datetime | None,
        key: str | None,
        replace: bool,
    ) -> Execution:
        now = self.clock.now()
        due = truncate_to_ms(utc(when) if when is not None else now)
        key = key if key is not None else str(uuid.uuid4())
        labels = {"docket.name": self.name, "docket.task": name}
        TASKS_ADDED.add(1, labels)
        with producer_span(
            "replace" if replace else "add",
            self.name,
            {"docket.task": name, "docket.key": key, "docket.when": due},
        ) as span:
            if self.is_stricken(name, function, args, kwargs):
                logger.warning("%r is stricken, skipping schedule of %r", name, key)
                TASKS_STRICKEN.add(1, {**labels, "docket.where": "docket"})
                span.set_attribute("docket.disposition", Disposition.STRUCK.value)
                return Execution(
                    self,
                    function,
                    args,
                    kwargs,
                    key,
                    due,
                    function_name=name,
                    disposition=Disposition.STRUCK,
                )
            message = TaskMessage(
                key=key,
                function_name=name,
                payload=payload,
                when=due,
                headers=trace_headers(),
            )
            outcome = await self._engine.schedule(message, now, replace=replace)
            span.set_attribute("docket.disposition", outcome.disposition.value)
        if outcome.disposition is Disposition.SCHEDULED:
            TASKS_SCHEDULED.add(1, labels)
        if outcome.disposition is Disposition.ALREADY_SCHEDULED:
            return Execution.from_record(self, outcome.record, disposition=outcome.disposition)
        return Execution(
            self,
            function,
            args,
            kwargs,
            message.key,
            due,
            function_name=name,
            generation=outcome.record.generation,
            state=outcome.record.state,
            disposition=outcome.disposition,
            headers=message.headers,
        )

    async def cancel(self, key: str) -> None:
        """Cancel the work under ``key`` if no worker has claimed it yet.

        Cancelling missing, running or finished work does nothing.
        """
        _check_key(key)
        if key is None:
            raise ValueError("key must be a non-empty string, got None")
        with producer_span("cancel", self.name, {"docket.key": key}) as span:
            cancelled = await self._engine.cancel(key, self.clock.now(), self.execution_ttl)
            span.set_attribute("docket.cancelled", cancelled)
        if cancelled:
            TASKS_CANCELLED.add(1, {"docket.name": self.name})

    async def clear(self) -> int:
        """Cancel all scheduled and queued work; return how many executions."""
        return await self._engine.clear(self.clock.now(), self.execution_ttl)

    # -- reading ----------------------------------------------------------

    async def get_execution(self, key: str) -> Execution | None:
        """The execution under ``key``, or None if there is none (or it expired)."""
        _check_key(key)
        record = await self._engine.get_record(key, self.clock.now())
        return None if record is None else Execution.from_record(self, record)

    async def snapshot(self) -> DocketSnapshot:
        """Read all future, queued and running work and the live workers."""
        now = self.clock.now()
        stored = await self._engine.snapshot(now)
        future = [Execution.from_record(self, r) for r in stored.queued + stored.future]
        future.sort(key=lambda e: (e.when, e.generation))
        running = [RunningExecution.from_record(self, r) for r in stored.running]
        return DocketSnapshot(
            taken=now,
            total_tasks=len(future) + len(running),
            future=future,
            running=running,  # type: ignore[arg-type]
            workers=stored.workers,
        )

    async def workers(self) -> list[WorkerInfo]:
        """The workers whose heartbeats are recent enough to count them alive."""
        return await self._engine.workers(self.clock.now(), self._dead_after)

    async def task_workers(self, task_name: str) -> list[WorkerInfo]:
        """The live workers that can run ``task_name``."""
        return [w for w in await self.workers() if task_name in w.tasks]

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Messages workers set aside because they could not run them, oldest first."""
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        return await self._engine.dead_letters(limit)

    @property
    def _dead_after(self) -> timedelta:
        return self.heartbeat_interval * self.missed_heartbeats

    def __repr__(self) -> str:
        return f"Docket(name={self.name!r}, url={self.url!r})"


def _check_arguments(
    name: str, function: TaskFunction, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Raise TypeError at ``add`` time for arguments the task could never accept."""
    signature = _signature(function)
    if signature is None:
        return
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"arguments do not fit task {name!r}{signature}: {error}") from None
    # Parameters the worker injects (Annotated dependencies may have no
    # default) are not the caller's to supply.
    injected = injected_parameters(function)
    missing = [
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.default is parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        and parameter.name not in bound.arguments
        and parameter.name not in injected
    ]
    if missing:
        raise TypeError(
            f"arguments do not fit task {name!r}{signature}: "
            f"missing required argument(s) {', '.join(repr(m) for m in missing)}"
        )


@functools.lru_cache(maxsize=4096)
def _cached_signature(function: TaskFunction) -> inspect.Signature | None:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _signature(function: TaskFunction) -> inspect.Signature | None:
    """``function``'s signature, cached: ``add`` checks arguments against it on every call."""
    try:
        return _cached_signature(function)
    except TypeError:  # unhashable callables cannot be cached
        return _cached_signature.__wrapped__(function)
