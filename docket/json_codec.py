"""The JSON codec's rules: which values are JSON, and how calls, results and errors look in it.

``Docket(codec="json")`` stores arguments and results as JSON text, decoded
with ``json`` only, so reading them can never run code.  A value is JSON when
it is ``None``, a ``bool``, ``int``, ``float`` (finite), ``str``, a ``list``
of JSON values or a ``dict`` of ``str`` keys to JSON values, exactly those
types: subclasses (enums, named tuples) and tuples are refused, because JSON
would hand back something else (a tuple would come back a list).  A failed
task's exception is kept as its type's name and message only.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = [
    "dumps",
    "loads",
    "non_json",
    "pack_call",
    "pack_exception",
    "unpack_call",
    "unpack_exception",
]

_SCALARS = (str, int, float, bool, type(None))


def non_json(value: Any) -> str | None:
    """What in ``value`` is not JSON (``"datetime"``, ``"tuple"``...), or None if it all is."""
    kind = type(value)
    if kind in _SCALARS:
        if kind is float and not math.isfinite(value):
            return f"float {value!r}"
        return None
    if kind is list:
        for item in value:
            problem = non_json(item)
            if problem is not None:
                return problem
        return None
    if kind is dict:
        for name, item in value.items():
            if type(name) is not str:
                return f"a dict key of type {type(name).__name__}"
            problem = non_json(item)
            if problem is not None:
                return problem
        return None
    return kind.__name__


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON; TypeError if it is not JSON (see ``non_json``)."""
    problem = non_json(value)
    if problem is not None:
        raise TypeError(f"{problem} is not JSON")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def loads(data: bytes) -> Any:
    """JSON text back into Python values (never anything but JSON types)."""
    return json.loads(data.decode("utf-8"))


def pack_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """A call as ``{"args": [...], "kwargs": {...}}`` (the caller checked each value)."""
    return dumps({"args": list(args), "kwargs": kwargs})


def unpack_call(data: bytes) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` from ``pack_call``'s JSON; ValueError if it is not that shape."""
    decoded = loads(data)
    if (
        not isinstance(decoded, dict)
        or set(decoded) != {"args", "kwargs"}
        or not isinstance(decoded["args"], list)
        or not isinstance(decoded["kwargs"], dict)
    ):
        raise ValueError("payload is not a JSON call ({'args': [...], 'kwargs': {...}})")
    return tuple(decoded["args"]), decoded["kwargs"]


def pack_exception(error: BaseException) -> bytes:
    """An exception as ``{"type": name, "message": str(error)}``."""
    return dumps({"type": type(error).__name__, "message": str(error)})


def unpack_exception(data: bytes) -> tuple[str, str]:
    """``(type name, message)`` from ``pack_exception``'s JSON; ValueError otherwise."""
    decoded = loads(data)
    if (
        not isinstance(decoded, dict)
        or not isinstance(decoded.get("type"), str)
        or not isinstance(decoded.get("message"), str)
    ):
        raise ValueError("stored error is not a JSON {'type': ..., 'message': ...}")
    return decoded["type"], decoded["message"]
