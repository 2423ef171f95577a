"""Finding task functions named on the command line as ``module:attribute``.

Modules are imported with the current directory on ``sys.path`` (as
``python -m`` would), so ``docket worker --tasks tasks:tasks`` finds a
``tasks.py`` beside you even when started from the ``docket`` script.  Every
failure (a module that cannot be imported, a missing attribute, something
that is not a task) is a ``CLIError`` that says which option named it.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from docket.cli.support import CLIError

__all__ = ["builtin_tasks", "import_object", "load_function", "load_tasks"]

TaskFunction = Callable[..., Any]


def _current_directory_importable() -> None:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def import_object(path: str, option: str = "--tasks") -> Any:
    """The object named by ``"module:attribute"`` (the attribute may be dotted)."""
    module_name, separator, attribute = path.partition(":")
    if not separator or not module_name or not attribute or ":" in attribute:
        raise CLIError(f"invalid {option} {path!r}: expected module:attribute, e.g. tasks:tasks")
    _current_directory_importable()
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            raise CLIError(
                f"cannot import module {module_name!r} (from {option} {path!r}): "
                f"no module named {missing!r}"
            ) from None
        raise CLIError(
            f"importing module {module_name!r} (from {option} {path!r}) failed: "
            f"no module named {missing!r}"
        ) from None
    except Exception as error:
        raise CLIError(
            f"importing module {module_name!r} (from {option} {path!r}) failed: "
            f"{type(error).__name__}: {error}"
        ) from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CLIError(
                f"module {module_name!r} has no attribute {attribute!r} (from {option} {path!r})"
            ) from None
    return found


def load_tasks(paths: Iterable[str], option: str = "--tasks") -> list[TaskFunction]:
    """Every task function in the iterables named by ``paths``, in order, without repeats.

    A path may also name a single function.
    """
    functions: list[TaskFunction] = []
    for path in paths:
        found = import_object(path, option)
        if callable(found) and not isinstance(found, Iterable):
            candidates: list[Any] = [found]
        elif isinstance(found, Iterable) and not isinstance(found, (str, bytes)):
            candidates = list(found)
        else:
            raise CLIError(
                f"{option} {path!r} must name an iterable of task functions, "
                f"not {type(found).__name__}"
            )
        for candidate in candidates:
            if not callable(candidate):
                raise CLIError(
                    f"{option} {path!r} contains {candidate!r}, which is not a task function"
                )
            if candidate not in functions:
                functions.append(candidate)
    return functions


def load_function(path: str, option: str) -> TaskFunction:
    """The single function named by ``"module:function"``."""
    found = import_object(path, option)
    if not callable(found):
        raise CLIError(f"{option} {path!r} must name a function, not {type(found).__name__}")
    function: TaskFunction = found
    return function


def builtin_tasks() -> list[TaskFunction]:
    """docket's built-in ``trace``, ``fail`` and ``sleep`` tasks (none if unavailable)."""
    try:
        from docket.tasks import standard_tasks
    except ImportError:
        return []
    return list(standard_tasks)
