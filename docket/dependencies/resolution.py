"""Finding a task's dependencies and resolving them for one run.

A dependency is found in two places on a parameter: as its default
(``retry: Retry = Retry(3)``) or as ``Annotated`` metadata
(``db: Annotated[Database, Depends(open_db)]``).  When the caller did not
supply the parameter, the dependency's value is injected; when the parameter
carries a task argument, an Annotated dependency is bound to that value
(``bind_to_parameter``) and entered for its effect only.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from docket.dependencies.base import Dependency

__all__ = [
    "DependencyFailed",
    "TaskDependencies",
    "dependency_parameters",
    "resolve_dependencies",
    "task_dependencies",
    "validate_dependencies",
]

logger = logging.getLogger("docket.dependencies")


class DependencyFailed(Exception):
    """A dependency raised while it was being resolved for a run."""

    def __init__(self, parameter: str, error: BaseException) -> None:
        super().__init__(
            f"failed to resolve dependency for parameter {parameter!r}: "
            f"{type(error).__name__}: {error}"
        )
        self.parameter = parameter
        self.error = error


@dataclass(frozen=True)
class TaskDependencies:
    """The dependencies declared on one function's parameters."""

    by_default: tuple[tuple[str, Dependency], ...]
    by_annotation: tuple[tuple[str, Dependency], ...]

    @property
    def all(self) -> tuple[tuple[str, Dependency], ...]:
        return self.by_default + self.by_annotation

    def __bool__(self) -> bool:
        return bool(self.by_default or self.by_annotation)


def _annotated_dependencies(function: Callable[..., Any]) -> dict[str, Dependency]:
    try:
        hints = get_type_hints(function, include_extras=True)
    except Exception:
        hints = _hints_one_by_one(function)
    found: dict[str, Dependency] = {}
    for name, hint in hints.items():
        if name == "return" or get_origin(hint) is not Annotated:
            continue
        for metadata in get_args(hint)[1:]:
            if isinstance(metadata, Dependency):
                found[name] = metadata
    return found


def _hints_one_by_one(function: Callable[..., Any]) -> dict[str, Any]:
    """The annotations that can be evaluated, when not all of them can.

    An ``Annotated`` one that cannot (under ``from __future__ import
    annotations`` it may name a local variable, which is out of reach) would
    silently lose its dependency, so that is logged.
    """
    raw = dict(getattr(function, "__annotations__", {}) or {})
    namespace = dict(getattr(function, "__globals__", {}))
    hints: dict[str, Any] = {}
    for name, hint in raw.items():
        if not isinstance(hint, str):
            hints[name] = hint
            continue
        try:
            hints[name] = eval(hint, namespace)  # what get_type_hints does, one at a time
        except Exception as error:
            if "Annotated" in hint:
                logger.warning(
                    "Task %s: the annotation of parameter %r (%s) cannot be evaluated "
                    "(%s: %s), so any dependency it declares is ignored; define what it "
                    "names at module level",
                    getattr(function, "__qualname__", function),
                    name,
                    hint,
                    type(error).__name__,
                    error,
                )
    return hints


def _inspect(function: Callable[..., Any]) -> TaskDependencies:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return TaskDependencies((), ())
    by_default = tuple(
        (name, p.default) for name, p in parameters.items() if isinstance(p.default, Dependency)
    )
    defaulted = {name for name, _ in by_default}
    by_annotation = tuple(
        (name, dependency)
        for name, dependency in _annotated_dependencies(function).items()
        if name in parameters and name not in defaulted
    )
    return TaskDependencies(by_default, by_annotation)


_cached_inspect = lru_cache(maxsize=4096)(_inspect)


def task_dependencies(function: Callable[..., Any]) -> TaskDependencies:
    """The dependencies declared on ``function``'s parameters."""
    try:
        return _cached_inspect(function)
    except TypeError:  # unhashable callables cannot be cached
        return _inspect(function)


def dependency_parameters(function: Callable[..., Any]) -> dict[str, Dependency]:
    """Every parameter of ``function`` that declares a dependency, by name."""
    return dict(task_dependencies(function).all)


def validate_dependencies(function: Callable[..., Any], extra: Iterable[Dependency] = ()) -> None:
    """Raise ValueError if a ``single`` dependency kind appears more than once,
    or if a declared dependency cannot work on ``function`` (``check_task``)."""
    seen: dict[type[Dependency], str] = {}
    declared = list(task_dependencies(function).all)
    for _, dependency in declared:
        dependency.check_task(function)
    declared += [(f"worker dependency {dep!r}", dep) for dep in extra]
    for name, dependency in declared:
        if not dependency.single:
            continue
        kind = next(
            base for base in type(dependency).__mro__ if base.__dict__.get("single") is True
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
    """Resolve ``function``'s dependencies for one call.

    ``given`` holds the arguments already bound by name.  Returns the values
    to inject and every dependency object entered (injected or bound); each
    is exited, last in first out, when ``stack`` closes.  A dependency that
    raises becomes ``DependencyFailed`` naming its parameter, except for
    ``AdmissionBlocked``, which passes through.
    """
    from docket.dependencies.base import AdmissionBlocked

    declared = task_dependencies(function)
    values: dict[str, Any] = {}
    entered: dict[str, Dependency] = {}
    for name, dependency in declared.all:
        try:
            if name in given:
                if (name, dependency) not in declared.by_annotation:
                    continue
                bound = dependency.bind_to_parameter(name, given[name])
                await stack.enter_async_context(bound)  # type: ignore[arg-type]
                entered[name] = bound
                continue
            bound = dependency.for_parameter(name)
            values[name] = await stack.enter_async_context(bound)  # type: ignore[arg-type]
            entered[name] = bound
        except AdmissionBlocked:
            raise
        except DependencyFailed as nested:
            raise DependencyFailed(name, nested.error) from nested.error
        except Exception as error:
            raise DependencyFailed(name, error) from error
    return values, entered
