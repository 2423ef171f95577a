"""Reading a ``docket strike`` value as the type of the task parameter it is compared with.

A strike compares a task's argument with a value, and ``2002 == "2002"`` is
false, so ``docket strike charge order_id == 2002`` must strike the int when
``order_id`` is an ``int``.  When the task is known (registered from
``--tasks``), ``convert`` reads plain text as the parameter's annotation:
``int``, ``float``, ``bool``, ``str``, ``Decimal``, ``UUID``, ``datetime``,
``date``, ``timedelta``, ``bytes`` and enums (by value, then by name), with
``Optional[...]``/``X | None`` and ``Annotated[...]`` unwrapped.  Text that
does not convert is an error naming the parameter, the value and the type.
Anything else (no annotation, ``Any``, other unions, other classes) keeps
the text, with a note saying why.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from docket.cli.options import parse_duration
from docket.cli.support import CLIError
from docket.dependencies import Dependency

__all__ = ["Conversion", "annotation_of", "convert", "target_type", "typed_reader"]

TaskFunction = Callable[..., Any]

_TRUE = {"true", "t", "yes", "y", "on", "1"}
_FALSE = {"false", "f", "no", "n", "off", "0"}


@dataclass(frozen=True)
class Conversion:
    """What became of a value: the value, and a note when it was left as text."""

    value: Any
    note: str | None = None


def annotation_of(function: Callable[..., Any], parameter: str) -> Any:
    """``parameter``'s annotation in ``function`` (``Annotated`` stripped), or
    ``inspect.Parameter.empty`` when it has none; KeyError when there is no such
    parameter, or it is one docket injects (a dependency)."""
    signature = inspect.signature(function)
    found = signature.parameters.get(parameter)
    if found is None or isinstance(found.default, Dependency):
        raise KeyError(parameter)
    try:
        hints = typing.get_type_hints(function)
    except Exception:
        # Unresolvable string annotations: use what the signature says.
        hints = {}
    annotation = hints.get(parameter, found.annotation)
    return _strip_annotated(annotation)


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def target_type(annotation: Any) -> type | None:
    """The type text is converted to for ``annotation``, or None when there is none to use.

    ``Optional[X]`` and ``X | None`` give X; ``Annotated[X, ...]`` gives X.
    """
    annotation = _strip_annotated(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            return None
        return target_type(members[0])
    if isinstance(annotation, type) and _converter(annotation) is not None:
        return annotation
    return None


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def _enum(kind: type[enum.Enum], text: str) -> enum.Enum:
    for member in kind:
        if str(member.value) == text:
            return member
    try:
        return kind[text]
    except KeyError:
        choices = ", ".join(str(m.value) for m in kind)
        raise ValueError(f"expected one of {choices}") from None


def _converter(kind: type) -> Callable[[str], Any] | None:
    # bool before int: bool is an int subclass, and bool("false") is True.
    if issubclass(kind, enum.Enum):
        return lambda text: _enum(kind, text)
    if issubclass(kind, bool):
        return _bool
    if issubclass(kind, datetime):
        return datetime.fromisoformat
    if issubclass(kind, date):
        return date.fromisoformat
    if issubclass(kind, timedelta):
        return lambda text: parse_duration(text, "timedelta")
    if issubclass(kind, bytes):
        return str.encode
    for simple in (str, int, float, Decimal, UUID):
        if issubclass(kind, simple):
            return kind
    return None


def convert(text: str, annotation: Any, *, task: str, parameter: str) -> Conversion:
    """``text`` as ``annotation`` says, for parameter ``parameter`` of ``task``.

    CLIError naming the parameter, the value and the type when the text does
    not convert.
    """
    if annotation is inspect.Parameter.empty or annotation is Any:
        return Conversion(text, f"{task}'s parameter {parameter!r} has no type annotation")
    kind = target_type(annotation)
    if kind is None:
        return Conversion(
            text, f"{task}'s parameter {parameter!r} is {_shown(annotation)}, not a single type"
        )
    converter = _converter(kind)
    assert converter is not None  # target_type only gives convertible types
    try:
        return Conversion(converter(text))
    except (ValueError, TypeError, ArithmeticError, InvalidOperation, CLIError) as error:
        reason = str(error).removeprefix("invalid timedelta ")
        raise CLIError(
            f"invalid value {text!r} for parameter {parameter!r} of {task}: "
            f"expected {kind.__name__} ({reason})"
        ) from None


def _shown(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def typed_reader(
    task: str | None, parameter: str, tasks: Mapping[str, TaskFunction], warn: Callable[[str], None]
) -> Callable[[str], Any] | None:
    """How plain text becomes ``parameter``'s type, or None (after ``warn``) when it stays text.

    ``task`` None means any task: the ``tasks`` that have the parameter must
    agree on its type.
    """
    if task is not None:
        function = tasks.get(task)
        if function is None:
            warn(f"task {task!r} is not among the loaded tasks (name its module with --tasks)")
            return None
        try:
            annotation = annotation_of(function, parameter)
        except KeyError:
            warn(f"task {task!r} has no parameter {parameter!r}")
            return None
        return lambda text: _converted(text, annotation, task, parameter, warn)
    annotations = {}
    for name, function in tasks.items():
        try:
            annotations[name] = annotation_of(function, parameter)
        except (KeyError, TypeError, ValueError):
            continue
    if not annotations:
        warn(f"no loaded task has a parameter {parameter!r} (name their module with --tasks)")
        return None
    kinds = {target_type(a) for a in annotations.values()}
    if len(kinds) != 1 or None in kinds:
        warn(f"the loaded tasks with a parameter {parameter!r} do not agree on its type")
        return None
    name, annotation = next(iter(annotations.items()))
    return lambda text: _converted(text, annotation, name, parameter, warn)


def _converted(
    text: str, annotation: Any, task: str, parameter: str, warn: Callable[[str], None]
) -> Any:
    conversion = convert(text, annotation, task=task, parameter=parameter)
    if conversion.note is not None:
        warn(conversion.note)
    return conversion.value
