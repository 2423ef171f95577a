"""Assertions about what a docket has scheduled, for application tests.

Each assertion reads the docket's snapshot and, on failure, lists what *is*
scheduled so the mismatch is plain.  ``docket_testing`` adds time-aware
versions (``when=``, ``within=``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from docket.docket import Docket
from docket.execution import Execution

__all__ = [
    "assert_no_tasks",
    "assert_task_count",
    "assert_task_not_scheduled",
    "assert_task_scheduled",
    "describe_scheduled",
    "matching_executions",
]

TaskRef = Callable[..., Any] | str


def _name(function: TaskRef) -> str:
    if isinstance(function, str):
        return function
    name = getattr(function, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"function must be a task function or name, got {function!r}")
    return name


def _matches(
    execution: Execution,
    name: str | None,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    key: str | None,
) -> bool:
    if name is not None and execution.function_name != name:
        return False
    if key is not None and execution.key != key:
        return False
    if args is not None and tuple(execution.args) != tuple(args):
        return False
    if kwargs is not None:
        for parameter, value in kwargs.items():
            if parameter not in execution.kwargs or execution.kwargs[parameter] != value:
                return False
    return True


async def pending_executions(docket: Docket) -> list[Execution]:
    """Scheduled, queued and running executions, in due order."""
    snapshot = await docket.snapshot()
    return [*snapshot.future, *snapshot.running]


def describe_scheduled(executions: Sequence[Execution]) -> str:
    """One line per execution: when, call and state; or a note that there is none."""
    if not executions:
        return "  (nothing is scheduled)"
    return "\n".join(
        f"  {e.when.isoformat()}  {_full_call(e)}  [{e.state.value}]" for e in executions
    )


def _full_call(execution: Execution) -> str:
    # Unlike log lines, a failing assertion shows every argument: it is the
    # test's own data and the mismatch is what the reader needs.
    arguments = [repr(a) for a in execution.args]
    arguments += [f"{k}={v!r}" for k, v in execution.kwargs.items()]
    return f"{execution.function_name}({', '.join(arguments)}) key={execution.key!r}"


async def matching_executions(
    docket: Docket,
    function: TaskRef | None = None,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> tuple[list[Execution], list[Execution]]:
    """(matching, all pending) executions; ``kwargs`` match as a subset."""
    everything = await pending_executions(docket)
    name = None if function is None else _name(function)
    return [e for e in everything if _matches(e, name, args, kwargs, key)], everything


def _criteria(function: TaskRef | None, args: Any, kwargs: Any, key: Any) -> str:
    parts = [] if function is None else [_name(function)]
    if args is not None:
        parts.append(f"args={tuple(args)!r}")
    if kwargs is not None:
        parts.append(f"kwargs⊇{dict(kwargs)!r}")
    if key is not None:
        parts.append(f"key={key!r}")
    return " ".join(parts) or "any task"


async def assert_task_scheduled(
    docket: Docket,
    function: TaskRef,
    *,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> None:
    """Assert that a matching execution is scheduled, queued or running."""
    matching, everything = await matching_executions(docket, function, args, kwargs, key)
    if not matching:
        raise AssertionError(
            f"expected {_criteria(function, args, kwargs, key)} to be scheduled; scheduled:\n"
            + describe_scheduled(everything)
        )


async def assert_task_not_scheduled(
    docket: Docket,
    function: TaskRef,
    *,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> None:
    """Assert that no matching execution is scheduled, queued or running."""
    matching, _ = await matching_executions(docket, function, args, kwargs, key)
    if matching:
        raise AssertionError(
            f"expected {_criteria(function, args, kwargs, key)} not to be scheduled; found:\n"
            + describe_scheduled(matching)
        )


async def assert_task_count(docket: Docket, function: TaskRef | None = None, *, count: int) -> None:
    """Assert how many executions (of ``function``, or of any task) are pending."""
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    matching, everything = await matching_executions(docket, function)
    if len(matching) != count:
        raise AssertionError(
            f"expected {count} pending execution(s) of {_criteria(function, None, None, None)}, "
            f"found {len(matching)}; scheduled:\n" + describe_scheduled(everything)
        )


async def assert_no_tasks(docket: Docket) -> None:
    """Assert that nothing is scheduled, queued or running."""
    everything = await pending_executions(docket)
    if everything:
        raise AssertionError(
            f"expected no tasks, found {len(everything)}:\n" + describe_scheduled(everything)
        )
