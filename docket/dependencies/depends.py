"""User-defined dependencies: ``Depends`` (per run), ``Shared`` (per worker), ``TaskArgument``.

Factories may be sync or async functions, or return sync or async context
managers (including ``@contextmanager``/``@asynccontextmanager`` functions);
a context manager is entered and its value injected, and it is exited after
the run (``Depends``) or when the worker stops (``Shared``).  A factory's own
parameters may declare dependencies too, so dependencies nest.  Within one
run each ``Depends`` factory is resolved once, however often it is asked for.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Callable
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    AsyncExitStack,
)
from contextvars import ContextVar
from typing import Any

from docket.dependencies.base import Dependency
from docket.dependencies.context import current_execution

__all__ = [
    "Depends",
    "RunScope",
    "Shared",
    "SharedScope",
    "TaskArgument",
    "current_run_scope",
    "current_shared_scope",
]


async def _produce(factory: Callable[..., Any], stack: AsyncExitStack) -> Any:
    """Call ``factory`` with its own dependencies resolved; enter what it returns."""
    from docket.dependencies.resolution import resolve_dependencies

    values, _ = await resolve_dependencies(factory, {}, stack)
    produced = factory(**values)
    if isinstance(produced, AbstractAsyncContextManager):
        return await stack.enter_async_context(produced)
    if isinstance(produced, AbstractContextManager):
        return stack.enter_context(produced)
    if inspect.isawaitable(produced):
        return await produced
    return produced


class RunScope:
    """What one run's ``Depends`` factories resolved to, and their cleanups."""

    def __init__(self, stack: AsyncExitStack) -> None:
        self.stack = stack
        self.values: dict[Callable[..., Any], Any] = {}

    async def resolve(self, factory: Callable[..., Any]) -> Any:
        if factory not in self.values:
            self.values[factory] = await _produce(factory, self.stack)
        return self.values[factory]


class SharedScope:
    """What a worker's ``Shared`` factories resolved to; closed when the worker stops."""

    def __init__(self) -> None:
        self.stack = AsyncExitStack()
        self.values: dict[Callable[..., Any], Any] = {}
        self._locks: dict[Callable[..., Any], asyncio.Lock] = {}

    async def resolve(self, factory: Callable[..., Any]) -> Any:
        lock = self._locks.setdefault(factory, asyncio.Lock())
        async with lock:
            # Concurrent first uses must share one value, not race to make two.
            if factory not in self.values:
                self.values[factory] = await _produce(factory, self.stack)
        return self.values[factory]

    async def close(self) -> None:
        """Clean up every shared value, last made first."""
        self.values.clear()
        await self.stack.aclose()


current_run_scope: ContextVar[RunScope] = ContextVar("docket_run_scope")
current_shared_scope: ContextVar[SharedScope] = ContextVar("docket_shared_scope")


def _check_factory(factory: Any) -> None:
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {factory!r}")


class _Depends(Dependency):
    """A value made by ``factory`` for each run, cached within the run.

    For example::

        async def task(db: Database = Depends(open_database)): ...
    """

    def __init__(self, factory: Callable[..., Any]) -> None:
        _check_factory(factory)
        self.factory = factory

    async def __aenter__(self) -> Any:
        return await current_run_scope.get().resolve(self.factory)

    def __repr__(self) -> str:
        return f"Depends({getattr(self.factory, '__name__', self.factory)!r})"


class _Shared(Dependency):
    """A value made by ``factory`` once per worker, on first use.

    For example::

        async def task(pool: Pool = Shared(make_pool)): ...
    """

    def __init__(self, factory: Callable[..., Any]) -> None:
        _check_factory(factory)
        self.factory = factory

    async def __aenter__(self) -> Any:
        return await current_shared_scope.get().resolve(self.factory)

    def __repr__(self) -> str:
        return f"Shared({getattr(self.factory, '__name__', self.factory)!r})"


class _TaskArgument(Dependency):
    """The value of one of the task's own arguments.

    Inside a ``Depends`` factory the argument's name defaults to the factory
    parameter's name; a missing argument raises KeyError unless ``optional``,
    which gives None.
    """

    def __init__(self, name: str | None = None, optional: bool = False) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string or None, got {name!r}")
        self.name = name
        self.optional = optional

    def for_parameter(self, name: str) -> Dependency:
        if self.name is not None:
            return self
        bound = copy.copy(self)
        bound.name = name
        return bound

    async def __aenter__(self) -> Any:
        execution = current_execution.get()
        if self.name is None:
            raise ValueError("TaskArgument() needs a name when used directly on a task")
        arguments = execution.bound_arguments()
        if self.name in arguments:
            return arguments[self.name]
        if self.optional:
            return None
        raise KeyError(
            f"task {execution.function_name!r} has no argument {self.name!r} "
            f"(arguments: {sorted(arguments)})"
        )

    def __repr__(self) -> str:
        return f"TaskArgument({self.name!r}, optional={self.optional})"


def Depends(factory: Callable[..., Any]) -> Any:
    """A value made by ``factory`` for each run, cached within the run (see ``_Depends``)."""
    return _Depends(factory)


def Shared(factory: Callable[..., Any]) -> Any:
    """A value made by ``factory`` once per worker, on first use (see ``_Shared``)."""
    return _Shared(factory)


def TaskArgument(name: str | None = None, optional: bool = False) -> Any:
    """The value of one of the task's own arguments (see ``_TaskArgument``)."""
    return _TaskArgument(name, optional)
