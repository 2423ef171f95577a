"""Which names a docket knows its task functions by.

``Docket.register`` and ``register_collection`` add functions under names;
scheduling by name or by function looks them up here.  Every check names the
bad argument and its value.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from docket.errors import UnknownTaskError

__all__ = ["collection", "lookup", "names_for", "own_name"]

TaskFunction = Callable[..., Any]


def names_for(function: TaskFunction, names: Iterable[str] | None) -> list[str]:
    """The names ``function`` is to be registered under: ``names``, else its ``__name__``."""
    if not callable(function):
        raise TypeError(f"function must be callable, got {function!r}")
    if names is None:
        return [own_name(function)]
    if isinstance(names, str):
        raise TypeError(f"names must be an iterable of strings, got {names!r}")
    chosen = list(names)
    if not chosen or not all(isinstance(n, str) and n for n in chosen):
        raise ValueError(f"names must be non-empty strings, got {names!r}")
    return chosen


def own_name(function: TaskFunction) -> str:
    """``function.__name__``, which must be a string."""
    name = getattr(function, "__name__", None)
    if not isinstance(name, str):
        raise ValueError(f"function {function!r} has no __name__; register it with names=")
    return name


def collection(collection_path: str) -> Iterable[TaskFunction]:
    """The iterable of tasks named by ``"module:attribute"``."""
    if not isinstance(collection_path, str) or collection_path.count(":") != 1:
        raise ValueError(
            f"collection_path must look like 'module:attribute', got {collection_path!r}"
        )
    module_name, attribute = collection_path.split(":")
    module = importlib.import_module(module_name)
    try:
        found: Iterable[TaskFunction] = getattr(module, attribute)
    except AttributeError:
        raise ValueError(
            f"module {module_name!r} has no attribute {attribute!r} "
            f"(collection_path={collection_path!r})"
        ) from None
    return found


def lookup(tasks: dict[str, TaskFunction], name: str, docket: str) -> TaskFunction:
    """The task registered as ``name``; UnknownTaskError (naming the known ones) if none."""
    try:
        return tasks[name]
    except KeyError:
        raise UnknownTaskError(
            f"task {name!r} is not registered with docket {docket!r}; known tasks: {sorted(tasks)}"
        ) from None
