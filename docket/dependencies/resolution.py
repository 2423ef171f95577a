"""Finding a task's dependencies and resolving them for one run."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from functools import lru_cache
from typing import Any

from docket.dependencies.base import Dependency

__all__ = [
    "DependencyFailed",
    "dependency_parameters",
    "resolve_dependencies",
    "validate_dependencies",
]


class DependencyFailed(Exception):
    """A dependency raised while it was being resolved for a run."""

    def __init__(self, parameter: str, error: BaseException) -> None:
        super().__init__(
            f"failed to resolve dependency for parameter {parameter!r}: "
            f"{type(error).__name__}: {error}"
        )
        self.parameter = parameter


@lru_cache(maxsize=4096)
def _declared(function: Callable[..., Any]) -> tuple[tuple[str, Dependency], ...]:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(
        (name, parameter.default)
        for name, parameter in parameters.items()
        if isinstance(parameter.default, Dependency)
    )


def dependency_parameters(function: Callable[..., Any]) -> dict[str, Dependency]:
    """The parameters of ``function`` whose defaults are dependencies, by name."""
    try:
        return dict(_declared(function))
    except TypeError:  # unhashable callables cannot be cached
        return dict(_declared.__wrapped__(function))


def validate_dependencies(
    function: Callable[..., Any], extra: Iterable[Dependency] = ()
) -> None:
    """Raise ValueError if a ``single`` dependency kind appears more than once."""
    seen: dict[type[Dependency], str] = {}
    declared = list(dependency_parameters(function).items())
    declared += [(f"worker dependency {dep!r}", dep) for dep in extra]
    for name, dependency in declared:
        if not dependency.single:
            continue
        kind = next(
            base
            for base in type(dependency).__mro__
            if base.__dict__.get("single") is True
        )
        if kind in seen:
            raise ValueError(
                f"task {getattr(function, '__name__', function)!r} has two {kind.__name__} "
                f"dependencies ({seen[kind]!r} and {name!r}); only one is allowed"
            )
        seen[kind] = name


async def resolve_dependencies(
    function: Callable[..., Any],
    given: dict[str, Any],
    stack: AsyncExitStack,
) -> tuple[dict[str, Any], dict[str, Dependency]]:
    """Resolve the dependencies ``given`` does not already supply.

    Returns the values to pass and the dependency objects they came from;
    each is exited, last in first out, when ``stack`` closes.
    """
    values: dict[str, Any] = {}
    sources: dict[str, Dependency] = {}
    for name, dependency in dependency_parameters(function).items():
        if name in given:
            continue
        try:
            values[name] = await stack.enter_async_context(dependency)  # type: ignore[arg-type]
        except Exception as error:
            raise DependencyFailed(name, error) from error
        sources[name] = dependency
    return values, sources
