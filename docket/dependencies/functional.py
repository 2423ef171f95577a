"""User-defined dependencies on ``uncalled-for``: ``Depends``, ``Shared``, ``TaskArgument``.

``Depends(factory, **bindings)`` makes a value per run, ``Shared(factory)``
one per worker; factories may be sync or async functions or return sync or
async context managers, whose exit runs after the run (``Depends``) or when
the worker stops (``Shared``).  A factory's own parameters may declare
dependencies too, and each ``Depends`` factory resolves once per run.

These are ``uncalled-for``'s own classes (pydocket's clients, such as
fastmcp, resolve them outside a worker through ``_Depends.cache`` and
``_Depends.stack``).  This module also owns the worker's shared scope: the
values ``Shared`` factories made, which ``enter_run_scopes`` hands to every
run's context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, AsyncExitStack
from typing import Any, TypeVar, cast, overload

from uncalled_for import DependencyFactory, Shared, SharedContext, current_frame
from uncalled_for.frames import _CallArgument
from uncalled_for.functional import _Depends as _UncalledForDepends
from uncalled_for.introspection import _parameter_cache, get_dependency_parameters

__all__ = [
    "DependencyFunction",
    "Depends",
    "Shared",
    "SharedContext",
    "SharedScope",
    "TaskArgument",
    "enter_run_scopes",
    "get_dependency_parameters",
]

R = TypeVar("R")

DependencyFunction = DependencyFactory  # type: ignore[type-arg]  # pydocket's generic alias
"""What ``Depends`` and ``Shared`` accept: a function returning a value, an
awaitable, or a sync or async context manager."""

# Re-exported so that docket and uncalled-for share one cache: fastmcp clears
# ``docket.dependencies._parameter_cache`` after rewriting a signature.
_parameter_cache = _parameter_cache  # noqa: PLW0127
__all__ += ["_parameter_cache"]


class _Depends(_UncalledForDepends[R]):
    """A value made by ``factory`` for each run, cached within the run."""

    def __repr__(self) -> str:
        name = getattr(self.factory, "__name__", repr(self.factory))
        return f"Depends({name})"


@overload
def Depends(dependency: Callable[..., AbstractAsyncContextManager[R]], **bindings: Any) -> R: ...
@overload
def Depends(dependency: Callable[..., AbstractContextManager[R]], **bindings: Any) -> R: ...
@overload
def Depends(dependency: Callable[..., Awaitable[R]], **bindings: Any) -> R: ...
@overload
def Depends(dependency: Callable[..., R], **bindings: Any) -> R: ...
def Depends(dependency: DependencyFactory[R], **bindings: Any) -> R:
    """A value made by ``dependency`` for each run, cached within the run.

    ``bindings`` supply the factory's own arguments from the declaring site:
    a dependency value (``TaskArgument()``, ``CallArgument("x")``, another
    ``Depends``) is resolved first and its value passed; anything else is
    passed as it is.  Two declarations of one factory share a run's value
    only when their bindings match.  Typed as the value it injects, so
    ``db: Database = Depends(open_db)`` type-checks.
    """
    if not callable(dependency):
        raise TypeError(f"dependency must be callable, got {dependency!r}")
    return cast(R, _Depends(dependency, **bindings))


class _TaskArgument(_CallArgument):
    """The value the caller gave one of the task's arguments.

    Unlike ``CallArgument`` it sees only what the caller supplied, never a
    value another dependency produced or a signature default, so
    ``optional=True`` gives None for an argument the caller left out.
    """

    async def __aenter__(self) -> Any:
        if self.parameter is None:
            raise ValueError("No parameter name specified")
        try:
            return await current_frame().resolve(self.parameter, provided_only=True)
        except LookupError:
            if self.optional:
                return None
            raise KeyError(self.parameter) from None

    def __repr__(self) -> str:
        return f"TaskArgument({self.parameter!r}, optional={self.optional!r})"


def TaskArgument(parameter: str | None = None, optional: bool = False) -> Any:
    """The value of the task's argument ``parameter``, for use inside ``Depends`` factories.

    In a factory's signature the name defaults to the factory parameter's
    own name.  A missing argument raises KeyError unless ``optional``, which
    gives None.
    """
    if parameter is not None and (not isinstance(parameter, str) or not parameter):
        raise ValueError(f"parameter must be a non-empty string or None, got {parameter!r}")
    return _TaskArgument(parameter, optional)


class SharedScope:
    """The values one worker's ``Shared`` factories made, and their cleanups.

    Opened when the worker starts and closed, last made first, when it stops.
    It is not entered as a ``SharedContext`` (whose context variables would
    tie it to the task that started the worker): each run's context is
    pointed at it instead (``enter_run_scopes``).
    """

    def __init__(self) -> None:
        self.stack = AsyncExitStack()
        self.values: dict[DependencyFactory[Any], Any] = {}
        self.lock = asyncio.Lock()

    async def close(self) -> None:
        """Clean up every shared value, last made first."""
        self.values.clear()
        await self.stack.aclose()


def enter_run_scopes(shared: SharedScope, run_stack: AsyncExitStack) -> None:
    """Point the current context at a run's ``Depends`` cache and exit stack,
    and at the worker's shared scope.

    Called once per run, in the context that run executes in (a copy of its
    own), so nothing needs resetting afterwards.
    """
    _UncalledForDepends.cache.set({})
    _UncalledForDepends.stack.set(run_stack)
    SharedContext.resolved.set(shared.values)
    SharedContext.lock.set(shared.lock)
    SharedContext.stack.set(shared.stack)
