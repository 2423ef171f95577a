"""Annotations that change how docket treats a task's parameters.

``Logged`` opts an argument into worker log lines; arguments without it print
as ``...``, so secrets and bulky values stay out of logs by default::

    async def send(to: Annotated[str, Logged], body: str): ...
    async def bulk(ids: Annotated[list[int], Logged(length_only=True)]): ...
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from typing_extensions import Self

__all__ = ["Annotation", "Logged", "call_repr", "logged_parameters"]


class Annotation(abc.ABC):  # noqa: B024  (abstract in name, as pydocket has it)
    """Base of the ``Annotated`` markers that change how docket treats a parameter.

    A marker is given as an instance (``Logged(length_only=True)``) or as the
    class itself (``Logged``), which means an instance with no arguments.
    """

    @classmethod
    def annotated_parameters(cls, signature: inspect.Signature) -> Mapping[str, Self]:
        """The parameters of ``signature`` marked with this annotation, and their markers."""
        return _annotated(cls, signature)


@lru_cache(maxsize=4096)
def _annotated(kind: type[Annotation], signature: inspect.Signature) -> Mapping[str, Any]:
    marked: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        for metadata in getattr(parameter.annotation, "__metadata__", ()):
            if isinstance(metadata, kind):
                marked[name] = metadata
            elif isinstance(metadata, type) and issubclass(metadata, kind):
                marked[name] = metadata()
    return marked


class Logged(Annotation):
    """Log this argument (with ``repr``), or only its length with ``length_only``."""

    def __init__(self, length_only: bool = False) -> None:
        self.length_only = length_only

    def format(self, argument: Any) -> str:
        """How the argument appears in a log line."""
        if not self.length_only:
            return repr(argument)
        if isinstance(argument, (dict, set, frozenset)):
            return f"{{len {len(argument)}}}"
        if isinstance(argument, tuple):
            return f"(len {len(argument)})"
        try:
            return f"[len {len(argument)}]"
        except TypeError:
            return repr(argument)

    def __repr__(self) -> str:
        return f"Logged(length_only={self.length_only})"


_PLAIN = Logged()


def _inspect(function: Callable[..., Any]) -> tuple[tuple[str, ...], dict[str, Logged]]:
    try:
        signature = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        signature = []  # type: ignore[assignment]
    # The names positional arguments bind to, in order; a *args parameter
    # comes last and takes every positional argument beyond the others.
    positional = [
        p.name for p in signature if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    positional += [p.name for p in signature if p.kind is p.VAR_POSITIONAL]
    parameters = tuple(positional)
    try:
        hints = get_type_hints(function, include_extras=True)
    except Exception:
        hints = dict(getattr(function, "__annotations__", {}) or {})
    logged: dict[str, Logged] = {}
    for name, hint in hints.items():
        if get_origin(hint) is not Annotated:
            continue
        for metadata in get_args(hint)[1:]:
            if metadata is Logged:
                logged[name] = _PLAIN
            elif isinstance(metadata, Logged):
                logged[name] = metadata
    return parameters, logged


@lru_cache(maxsize=4096)
def logged_parameters(function: Callable[..., Any]) -> tuple[tuple[str, ...], dict[str, Logged]]:
    """The names positional arguments bind to (``*args`` last) and which parameters are ``Logged``."""
    return _inspect(function)


def call_repr(
    function_name: str,
    function: Callable[..., Any] | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    key: str,
) -> str:
    """``name(logged args or ..., kw=...){key}`` as worker log lines show a call."""
    if function is None:
        names: tuple[str, ...] = ()
        logged: dict[str, Logged] = {}
    else:
        try:
            names, logged = logged_parameters(function)
        except TypeError:
            names, logged = _inspect(function)
    shown: list[str] = []
    for index, value in enumerate(args):
        # Positionals past the named ones belong to *args, if there is one
        # (it is last in ``names``); its annotation covers every one of them.
        name = names[min(index, len(names) - 1)] if names else None
        marker = logged.get(name) if name is not None else None
        shown.append(marker.format(value) if marker else "...")
    for name, value in kwargs.items():
        marker = logged.get(name)
        shown.append(f"{name}={marker.format(value) if marker else '...'}")
    return f"{function_name}({', '.join(shown)}){{{key}}}"
