"""The message codec: how arguments, results and errors become bytes.

Arguments, return values and exceptions travel through cloudpickle.  That
allows nearly any Python object, and also means decoding can execute code:
only schedule work from trusted producers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import cloudpickle  # type: ignore[import-untyped]

__all__ = [
    "decode_call",
    "decode_value",
    "encode_call",
    "encode_exception",
    "encode_value",
]


def _argument_names(function: Callable[..., Any] | None, args: tuple[Any, ...]) -> list[str]:
    names: list[str] = []
    if function is not None:
        try:
            parameters = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):
            parameters = []
        positional = [
            p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        names = positional[: len(args)]
    return names + [f"args[{index}]" for index in range(len(names), len(args))]


def encode_call(
    function_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    function: Callable[..., Any] | None = None,
) -> bytes:
    """Serialize a call's arguments; a TypeError names any argument that cannot be."""
    try:
        return bytes(cloudpickle.dumps((args, kwargs)))
    except Exception as error:
        named = list(zip(_argument_names(function, args), args, strict=True)) + list(kwargs.items())
        for name, value in named:
            try:
                cloudpickle.dumps(value)
            except Exception as value_error:
                raise TypeError(
                    f"argument {name!r} of task {function_name!r} cannot be serialized "
                    f"({type(value_error).__name__}: {value_error}): {value!r}"
                ) from value_error
        raise TypeError(
            f"the arguments of task {function_name!r} cannot be serialized: {error}"
        ) from error


def decode_call(payload: bytes) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Turn a payload back into ``(args, kwargs)``; ValueError if it is not one."""
    decoded = cloudpickle.loads(payload)
    if (
        not isinstance(decoded, tuple)
        or len(decoded) != 2
        or not isinstance(decoded[0], tuple)
        or not isinstance(decoded[1], dict)
    ):
        raise ValueError(f"payload is not an (args, kwargs) pair: {type(decoded).__name__}")
    return decoded[0], decoded[1]


def encode_value(value: Any) -> bytes:
    """Serialize a task's return value."""
    return bytes(cloudpickle.dumps(value))


def decode_value(data: bytes) -> Any:
    """Deserialize a stored return value or exception."""
    return cloudpickle.loads(data)


def encode_exception(error: BaseException) -> bytes | None:
    """Serialize a task's exception, or None if it cannot be.

    The traceback is not kept (frames do not pickle); the error's message and
    type are, so ``get_result`` can re-raise the task's own exception.
    """
    # Pickling never includes the traceback; the live exception keeps its own,
    # since callers (test helpers, logs) still show it.
    try:
        return bytes(cloudpickle.dumps(error))
    except Exception:
        return None
