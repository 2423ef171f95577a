"""Finding what the command line (or ``run_worker``) names as ``module:attribute``.

Task collections (``--tasks``), the fallback task (``--fallback-task``) and
worker dependencies (``--dependencies``) are named this way.  Modules are
imported with the current directory on ``sys.path`` (as ``python -m`` would),
so ``docket worker --tasks tasks:tasks`` finds a ``tasks.py`` beside you even
when started from the ``docket`` script.

Every failure says which option (or parameter: the caller passes the label)
named what, in one line, as the exception pydocket raises for it: an
``ImportError`` for a module that cannot be imported, an ``AttributeError``
for a missing attribute, a ``TypeError`` for something of the wrong kind and
a ``ValueError`` for a malformed path.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from docket.dependencies import Dependency

__all__ = ["import_object", "load_dependencies", "load_function", "load_tasks"]

TaskFunction = Callable[..., Any]
Dependencies = Mapping[str, Any] | Sequence[Any]


def _current_directory_importable() -> None:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def import_object(path: str, option: str = "--tasks") -> Any:
    """The object named by ``"module:attribute"`` (the attribute may be dotted)."""
    if not isinstance(path, str):
        raise TypeError(f"{option} must be a 'module:attribute' string, got {path!r}")
    module_name, separator, attribute = path.partition(":")
    if not separator or not module_name or not attribute or ":" in attribute:
        raise ValueError(f"invalid {option} {path!r}: expected module:attribute, e.g. tasks:tasks")
    _current_directory_importable()
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            raise ModuleNotFoundError(
                f"cannot import module {module_name!r} (from {option} {path!r}): "
                f"no module named {missing!r}",
                name=missing,
            ) from None
        raise ImportError(
            f"importing module {module_name!r} (from {option} {path!r}) failed: "
            f"no module named {missing!r}",
            name=module_name,
        ) from error
    except Exception as error:
        # Whatever the module raised at import time (a bad setting, a syntax
        # error) is reported as that module failing to import, with its cause.
        raise ImportError(
            f"importing module {module_name!r} (from {option} {path!r}) failed: "
            f"{type(error).__name__}: {error}",
            name=module_name,
        ) from error
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise AttributeError(
                f"module {module_name!r} has no attribute {attribute!r} (from {option} {path!r})"
            ) from None
    return found


def load_tasks(paths: Iterable[str], option: str = "--tasks") -> list[TaskFunction]:
    """Every task function in the iterables named by ``paths``, in order, without repeats.

    A path may also name a single function.
    """
    if isinstance(paths, str):
        paths = [paths]
    functions: list[TaskFunction] = []
    for path in paths:
        found = import_object(path, option)
        if callable(found) and not isinstance(found, Iterable):
            candidates: list[Any] = [found]
        elif isinstance(found, Iterable) and not isinstance(found, (str, bytes)):
            candidates = list(found)
        else:
            raise TypeError(
                f"{option} {path!r} must name an iterable of task functions, "
                f"not {type(found).__name__}"
            )
        for candidate in candidates:
            if not callable(candidate):
                raise TypeError(
                    f"{option} {path!r} contains {candidate!r}, which is not a task function"
                )
            if candidate not in functions:
                functions.append(candidate)
    return functions


def load_function(path: str | TaskFunction, option: str) -> TaskFunction:
    """The single function named by ``"module:function"`` (a function is taken as it is)."""
    found = import_object(path, option) if isinstance(path, str) else path
    if not callable(found):
        raise TypeError(f"{option} {path!r} must name a function, not {type(found).__name__}")
    function: TaskFunction = found
    return function


def load_dependencies(value: Dependencies | str | None, option: str) -> Dependencies | None:
    """Worker dependencies: a mapping or sequence of them, or the ``module:attribute`` of one.

    An empty string means none, as in pydocket (an empty ``DOCKET_WORKER_DEPENDENCIES``).
    """
    if value is None or value == "":
        return None
    found = import_object(value, option) if isinstance(value, str) else value
    shown = f"{option} {value!r}" if isinstance(value, str) else option
    if isinstance(found, (str, bytes)) or not isinstance(found, (Mapping, Sequence)):
        raise TypeError(
            f"{shown} must name a mapping or sequence of dependencies (such as "
            f"[Depends(fn)]), not {type(found).__name__}"
        )
    items = list(found.values()) if isinstance(found, Mapping) else list(found)
    for item in items:
        if not isinstance(item, Dependency):
            raise TypeError(
                f"{shown} contains {item!r}, which is not a dependency (such as Depends(fn))"
            )
    dependencies: Dependencies = found
    return dependencies
