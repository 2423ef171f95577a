"""Resolving a run whose dependencies need nothing but the run itself.

Most tasks declare only docket's own dependencies (a ``Perpetual``, a
``Retry``, a ``Timeout``, ``CurrentDocket()`` and the like), each of which
makes its per-run value from the current docket, worker and execution alone.
For them the general resolution (``resolution.resolved_dependencies``: an
exit stack, ``Depends`` caches, an ``uncalled-for`` frame) does nothing a
plain loop would not; ``alone_plan`` says when a task is such a one, and
``AloneResolution`` resolves it that way, with the same values, the same
failures and the same order.

A dependency class takes part by setting ``resolves_alone = True`` in its own
body, which promises that its ``__aenter__`` reads only ``current_docket``,
``current_worker`` and ``current_execution`` and that its ``__aexit__`` is
``Dependency``'s own, which does nothing.  The flag is read from the class
itself, never inherited: a subclass that may break the promise resolves the
general way unless it makes the promise too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from uncalled_for import (
    FailedDependency,
    get_annotation_dependencies,
    get_dependency_parameters,
    get_signature,
)

from docket.dependencies.base import Dependency
from docket.dependencies.context import current_docket, current_execution, current_worker

if TYPE_CHECKING:
    from docket.execution import Execution
    from docket.worker import Worker

__all__ = ["AloneResolution", "alone_plan", "provided_arguments", "resolves_alone"]

Plan = tuple[tuple[str, Dependency[Any]], ...]
"""A task's dependency parameters, in signature order, with their declarations."""


def resolves_alone(dependency: object) -> bool:
    """Whether ``dependency``'s own class promises to need only the run (see the module)."""
    return type(dependency).__dict__.get("resolves_alone") is True


def alone_plan(function: Callable[..., Any]) -> Plan | None:
    """``function``'s dependency parameters when every one resolves alone, else None.

    None too for a task with ``Annotated`` dependencies, which the general
    resolution binds to argument values.  Remembered per function.
    """
    try:
        return _remembered_plan(function)
    except TypeError:  # an unhashable callable cannot be remembered
        return _plan(function)


def _plan(function: Callable[..., Any]) -> Plan | None:
    if get_annotation_dependencies(function):
        return None
    parameters = tuple(get_dependency_parameters(function).items())
    if not all(resolves_alone(dependency) for _, dependency in parameters):
        return None
    return parameters


_remembered_plan = functools.lru_cache(maxsize=4096)(_plan)


class AloneResolution:
    """The run's resolution for a task whose ``alone_plan`` is ``plan``.

    An async context manager yielding what ``resolved_dependencies`` yields:
    each dependency parameter the caller did not supply, by name (or a
    ``FailedDependency`` where its ``__aenter__`` raised), then the worker's
    ``validate_task_dependencies`` conflicts.  Only for a worker without
    dependencies of its own.
    """

    __slots__ = ("_execution", "_plan", "_tokens", "_worker")

    def __init__(self, worker: Worker, execution: Execution, plan: Plan) -> None:
        self._worker = worker
        self._execution = execution
        self._plan = plan
        self._tokens: tuple[Any, Any, Any] | None = None

    async def __aenter__(self) -> dict[str, Any]:
        worker, execution = self._worker, self._execution
        function = execution.function
        assert function is not None
        self._tokens = (
            current_docket.set(worker.docket),
            current_worker.set(worker),
            current_execution.set(execution),
        )
        kwargs = execution.kwargs
        # Arguments given positionally reach the task through args; binding
        # is only worth its cost when there are any (keywords are seen first).
        provided = provided_arguments(execution, function) if execution.args else {}
        arguments: dict[str, Any] = {}
        for parameter, dependency in self._plan:
            if parameter in kwargs:
                arguments[parameter] = kwargs[parameter]
                continue
            if parameter in provided:
                continue
            try:
                arguments[parameter] = await dependency.for_parameter(parameter).__aenter__()
            except Exception as error:
                arguments[parameter] = FailedDependency(parameter, error)
        arguments.update(worker.validate_task_dependencies(function, arguments, {}))
        return arguments

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Each dependency's __aexit__ is Dependency's no-op (the promise).
        tokens, self._tokens = self._tokens, None
        if tokens is not None:
            docket_token, worker_token, execution_token = tokens
            current_execution.reset(execution_token)
            current_worker.reset(worker_token)
            current_docket.reset(docket_token)


def provided_arguments(execution: Execution, function: Callable[..., Any]) -> dict[str, Any]:
    """The caller's arguments by parameter name (positional ones included).

    Arguments that do not bind fall back to the keywords alone; calling the
    task then fails with the same TypeError it would have anyway.
    """
    if not execution.args and not execution.kwargs:
        # What binding nothing gives, whether it binds or not, without the cost.
        return {}
    try:
        return dict(get_signature(function).bind(*execution.args, **execution.kwargs).arguments)
    except TypeError:
        return dict(execution.kwargs)
