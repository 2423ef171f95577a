"""Resolving a task's dependencies for one run, on ``uncalled-for``'s frames.

A dependency is found in two places on a parameter: as its default
(``retry: Retry = Retry(3)``) or as ``Annotated`` metadata.  A *provider*
(``Depends``, ``Shared``, ``TaskArgument``, or any default) supplies the
parameter's value; other ``Annotated`` metadata
(``customer_id: Annotated[int, ConcurrencyLimit(1)]``) is bound to the
argument's value (``bind_to_parameter``) and entered for its effect only.

``resolved_dependencies`` is the run's resolution, as pydocket has it: worker
dependencies first, then each dependency parameter in signature order, then
the ``Annotated`` side effects.  A dependency that raises does not stop the
others; its place holds a ``FailedDependency`` and the worker fails the run
with all of them at once.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from uncalled_for import (
    FailedDependency,
    frame_scope,
    get_annotation_dependencies,
    get_dependency_parameters,
    get_signature,
)
from uncalled_for import validate_dependencies as validate_declarations

from docket.dependencies.alone import AloneResolution, alone_plan, provided_arguments
from docket.dependencies.base import Dependency
from docket.dependencies.context import current_docket, current_execution, current_worker
from docket.dependencies.functional import _TaskArgument, enter_run_scopes

if TYPE_CHECKING:
    from docket.execution import Execution
    from docket.worker import Worker

__all__ = [
    "WORKER_DEPENDENCY_PREFIX",
    "check_task_dependencies",
    "declared_dependencies",
    "get_single_dependency_of_type",
    "get_single_dependency_parameter_of_type",
    "has_dependencies",
    "injected_parameters",
    "resolved_dependencies",
    "single_conflicts",
    "worker_dependencies",
]

logger = logging.getLogger("docket.dependencies")

D = TypeVar("D", bound=Dependency[Any])

WORKER_DEPENDENCY_PREFIX = "__worker_dep__"
"""Where a worker dependency's value sits among a run's resolved dependencies;
such entries are never passed to the task."""


def declared_dependencies(function: Callable[..., Any]) -> list[Dependency[Any]]:
    """Every dependency declared on ``function``: value providers, then Annotated side effects."""
    found: list[Dependency[Any]] = list(get_dependency_parameters(function).values())
    for dependencies in get_annotation_dependencies(function).values():
        found.extend(dependencies)
    return found


def has_dependencies(function: Callable[..., Any]) -> bool:
    """Whether ``function`` declares any dependency (the worker's fast path skips resolution).

    Asked for every run, so remembered per function (uncalled-for's own
    caches are weak and cost a lookup each).
    """
    try:
        return _has_dependencies(function)
    except TypeError:  # an unhashable callable cannot be remembered
        return _declares_any(function)


def _declares_any(function: Callable[..., Any]) -> bool:
    return bool(get_dependency_parameters(function) or get_annotation_dependencies(function))


_has_dependencies = functools.lru_cache(maxsize=4096)(_declares_any)


def injected_parameters(function: Callable[..., Any]) -> set[str]:
    """The parameters whose values a run's dependencies supply, never the caller."""
    return set(get_dependency_parameters(function))


def check_task_dependencies(function: Callable[..., Any]) -> None:
    """Raise ValueError for declarations that can never work on ``function``.

    Two ``single`` dependencies of one kind (uncalled-for's rule), and any
    dependency whose own ``check_task(function)`` refuses it (say a
    ``ConcurrencyLimit`` naming an argument the task does not have).
    """
    validate_declarations(function)
    _warn_of_unreadable_annotations(function)
    for dependency in declared_dependencies(function):
        check = getattr(dependency, "check_task", None)
        if callable(check):
            check(function)


def _warn_of_unreadable_annotations(function: Callable[..., Any]) -> None:
    """Log each ``Annotated`` parameter whose dependencies will be ignored.

    When any annotation of a function cannot be evaluated (under
    ``from __future__ import annotations`` one may name a local variable,
    out of reach), uncalled-for finds none of its ``Annotated``
    dependencies; say so at registration rather than let them vanish.
    """
    try:
        get_type_hints(function, include_extras=True)
        return
    except Exception as error:
        problem = f"{type(error).__name__}: {error}"
    raw = getattr(function, "__annotations__", None) or {}
    for parameter, hint in raw.items():
        if isinstance(hint, str) and "Annotated" in hint:
            logger.warning(
                "Task %s: the annotation of parameter %r (%s) cannot be evaluated (%s), so "
                "every Annotated dependency of the task is ignored; define what it names at "
                "module level",
                getattr(function, "__qualname__", function),
                parameter,
                hint,
                problem,
            )


def worker_dependencies(
    dependencies: Mapping[str, Any] | Sequence[Any] | None,
) -> dict[str, Dependency[Any]]:
    """A worker's ``dependencies=`` argument, checked, by name.

    A mapping keeps its names (which may not start with ``__``); a sequence is
    named by position.
    """
    if dependencies is None:
        return {}
    if isinstance(dependencies, (str, bytes)) or not isinstance(dependencies, (Mapping, Iterable)):
        raise TypeError(
            f"dependencies must be a mapping or a sequence of Dependency objects, "
            f"got {dependencies!r}"
        )
    items: list[tuple[str | None, Any]] = (
        list(dependencies.items())
        if isinstance(dependencies, Mapping)
        else [(None, dependency) for dependency in dependencies]
    )
    named: dict[str, Dependency[Any]] = {}
    for index, (name, dependency) in enumerate(items):
        if name is not None and (not isinstance(name, str) or not name or name.startswith("__")):
            raise ValueError(
                f"dependencies: the name {name!r} is reserved or empty; "
                "names may not start with '__'"
            )
        label = name if name is not None else f"index {index}"
        if not isinstance(dependency, Dependency):
            raise TypeError(
                f"dependencies[{label!r}] must be a Dependency (e.g. Depends(fn) or "
                f"Retry(...)), got {dependency!r}"
            )
        named[name if name is not None else f"{index}"] = dependency
    return named


def single_conflicts(
    function: Callable[..., Any], worker: Mapping[str, Dependency[Any]]
) -> dict[str, FailedDependency]:
    """``single`` dependency kinds that a task and its worker both declare.

    A task's own conflicts are refused when it is registered; these can only
    be known once a worker runs it.  Each becomes a failed dependency, so the
    run fails naming both places.
    """
    if not worker:
        return {}
    placed: list[tuple[str, Dependency[Any]]] = [
        (f"worker dependency {name!r}", dependency) for name, dependency in worker.items()
    ]
    placed += [
        (f"parameter {name!r}", dependency)
        for name, dependency in get_dependency_parameters(function).items()
    ]
    for name, dependencies in get_annotation_dependencies(function).items():
        placed += [(f"parameter {name!r}", dependency) for dependency in dependencies]
    conflicts: dict[str, FailedDependency] = {}

    def conflict(kind: type[Any], places: list[str]) -> None:
        slot = f"__conflict_{kind.__name__}__"
        conflicts[slot] = FailedDependency(
            slot,
            ValueError(
                f"Only one {kind.__name__} dependency is allowed, but found at: "
                f"{', '.join(places)}. Declare it in exactly one place (task or worker)."
            ),
        )

    # The exact kind first, so the error names Retry rather than FailureHandler.
    by_kind: dict[type[Any], list[str]] = {}
    for place, dependency in placed:
        by_kind.setdefault(type(dependency), []).append(place)
    reported = {kind for kind, places in by_kind.items() if _single(kind) and len(places) > 1}
    for kind in reported:
        conflict(kind, by_kind[kind])
    bases = {base for _, dependency in placed for base in type(dependency).__mro__ if _single(base)}
    for base in bases - reported:
        matches = [(place, type(d)) for place, d in placed if isinstance(d, base)]
        if len({kind for _, kind in matches}) > 1:
            conflict(base, [f"{place} ({kind.__name__})" for place, kind in matches])
    return conflicts


def _single(kind: type[Any]) -> bool:
    """Whether ``kind`` is a dependency class of which a task may have only one."""
    return (
        kind is not Dependency
        and isinstance(kind, type)
        and issubclass(kind, Dependency)
        and bool(getattr(kind, "single", False))
    )


def get_single_dependency_of_type(
    dependencies: Mapping[str, Any], dependency_type: type[D]
) -> D | None:
    """The first resolved value in ``dependencies`` that is a ``dependency_type``."""
    for value in dependencies.values():
        if isinstance(value, dependency_type):
            return value
    return None


def get_single_dependency_parameter_of_type(
    function: Callable[..., Any], dependency_type: type[D]
) -> D | None:
    """The dependency of ``dependency_type`` that ``function`` declares, if any."""
    for dependency in declared_dependencies(function):
        if isinstance(dependency, dependency_type):
            return dependency
    return None


def _defaults(function: Callable[..., Any]) -> dict[str, Any]:
    return {
        name: parameter.default
        for name, parameter in get_signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def resolved_dependencies(
    worker: Worker, execution: Execution
) -> AbstractAsyncContextManager[dict[str, Any]]:
    """Resolve ``execution``'s dependencies on ``worker`` for the length of the block.

    Yields a dict of parameter name to value, a ``FailedDependency`` for each
    that raised, and ``__worker_dep__<name>`` entries for the worker's own
    dependencies.  Everything entered is exited, last first, when the block
    ends, with the block's exception if it raised.  A task whose every
    dependency needs only the run (``docket.dependencies.alone``), on a worker
    without dependencies of its own, is resolved without a frame or an exit
    stack, to the same values.
    """
    function = execution.function
    assert function is not None
    if not worker.dependencies:
        plan = alone_plan(function)
        if plan is not None:
            return AloneResolution(worker, execution, plan)
    return _resolved_in_frame(worker, execution)


@asynccontextmanager
async def _resolved_in_frame(worker: Worker, execution: Execution) -> AsyncIterator[dict[str, Any]]:
    """The general resolution: on an ``uncalled-for`` frame, with an exit stack."""
    function = execution.function
    assert function is not None
    docket_token = current_docket.set(worker.docket)
    worker_token = current_worker.set(worker)
    execution_token = current_execution.set(execution)
    try:
        async with AsyncExitStack() as stack:
            enter_run_scopes(worker.shared_scope, stack)
            provided = provided_arguments(execution, function)
            with frame_scope(function, provided) as frame:
                arguments: dict[str, Any] = {}
                for name, dependency in worker.dependencies.items():
                    slot = f"{WORKER_DEPENDENCY_PREFIX}{name}"
                    try:
                        arguments[slot] = await stack.enter_async_context(
                            dependency.for_parameter(slot)
                        )
                    except Exception as error:
                        arguments[slot] = FailedDependency(name, error)
                for parameter, dependency in get_dependency_parameters(function).items():
                    if parameter in execution.kwargs:
                        arguments[parameter] = execution.kwargs[parameter]
                        continue
                    if parameter in provided:
                        # Given positionally: it reaches the task through args.
                        continue
                    if isinstance(dependency, _TaskArgument) and not dependency.parameter:
                        arguments[parameter] = FailedDependency(
                            parameter, ValueError("No parameter name specified")
                        )
                        continue
                    try:
                        arguments[parameter] = await frame.resolve(parameter)
                    except Exception as error:
                        arguments[parameter] = FailedDependency(parameter, error)
                annotations = get_annotation_dependencies(function)
                defaults = _defaults(function) if annotations else {}
                for parameter, dependencies in annotations.items():
                    value = provided.get(
                        parameter, arguments.get(parameter, defaults.get(parameter))
                    )
                    for dependency in dependencies:
                        try:
                            await stack.enter_async_context(
                                dependency.bind_to_parameter(parameter, value)
                            )
                        except Exception as error:
                            arguments[parameter] = FailedDependency(parameter, error)
                arguments.update(
                    worker.validate_task_dependencies(function, arguments, annotations)
                )
                yield arguments
    finally:
        current_execution.reset(execution_token)
        current_worker.reset(worker_token)
        current_docket.reset(docket_token)
