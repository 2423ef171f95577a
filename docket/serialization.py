"""The message codec: how arguments, results, errors and strike rules become bytes.

By default they travel through cloudpickle.  That allows nearly any Python
object, and also means decoding can execute code.  A ``Codec`` is what a
``Docket`` uses: ``pickle`` or ``json`` (``docket.json_codec``, which cannot
run code), optionally sealed with HMAC-SHA256 signing keys
(``docket.signing``) so that nothing is decoded unless one of the docket's
keys signed it, for that place.  The module-level functions are the default
codec: cloudpickle, unsigned.
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle  # type: ignore[import-untyped]

from docket import json_codec
from docket.errors import BadSignature, ExecutionFailed
from docket.signing import Signer, SigningKey, is_sealed, signing_keys

__all__ = [
    "CODECS",
    "DEFAULT_CODEC",
    "Codec",
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


# Types that pickle writes itself, never asking cloudpickle's reducers: their
# exact instances come out byte for byte the same from ``pickle.dumps`` at
# cloudpickle's protocol, which skips building a cloudpickle Pickler per call.
_ATOMS = frozenset({str, int, float, bool, type(None), bytes})


def _atoms_only(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if type(args) is not tuple or type(kwargs) is not dict:
        return False
    for value in args:
        if type(value) not in _ATOMS:
            return False
    for name, value in kwargs.items():
        if type(name) is not str or type(value) not in _ATOMS:
            return False
    return True


def encode_call(
    function_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    function: Callable[..., Any] | None = None,
) -> bytes:
    """Serialize a call's arguments; a TypeError names any argument that cannot be."""
    if _atoms_only(args, kwargs):
        return pickle.dumps((args, kwargs), protocol=cloudpickle.DEFAULT_PROTOCOL)
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


CODECS = ("pickle", "json")
"""The codecs a ``Docket`` may use."""

CALL, RESULT, STRIKE = "call", "result", "strike"
"""What a sealed entry is for: a task's arguments, a run's result or error, a strike rule."""


def check_max_payload_size(limit: object) -> int | None:
    """``max_payload_size`` checked: None or a positive int of bytes."""
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"max_payload_size must be a positive int of bytes or None, got {limit!r}")
    return limit


class Codec:
    """How one docket encodes what it stores and decodes what it reads back.

    ``kind`` is ``"pickle"`` (cloudpickle) or ``"json"``; ``signing_key``
    one key or a list (the first signs, all verify; None reads
    ``DOCKET_SIGNING_KEY`` unless ``read_environment`` is False);
    ``max_payload_size`` the most bytes a call's
    stored payload may take, or None.  With keys, nothing is decoded unless
    it is sealed by one of them for the place it is read from; without, a
    sealed entry is refused too, since it cannot be checked.
    """

    def __init__(
        self,
        kind: str = "pickle",
        signing_key: SigningKey | Sequence[SigningKey] | None = None,
        max_payload_size: int | None = None,
        *,
        read_environment: bool = True,
    ) -> None:
        if kind not in CODECS:
            raise ValueError(f"codec must be one of {list(CODECS)}, got {kind!r}")
        self.kind = kind
        keys = signing_keys(signing_key) if read_environment or signing_key is not None else ()
        self._signer = Signer(keys) if keys else None
        self.max_payload_size = check_max_payload_size(max_payload_size)

    @property
    def signed(self) -> bool:
        """Whether this codec signs and verifies."""
        return self._signer is not None

    def _seal(self, purpose: str, subject: str, body: bytes) -> bytes:
        return body if self._signer is None else self._signer.seal(purpose, subject, body)

    def _open(self, purpose: str, subject: str, data: bytes) -> bytes:
        if self._signer is not None:
            return self._signer.open(purpose, subject, data)
        if is_sealed(data):
            raise BadSignature(
                f"bad signature: the {purpose} for {subject!r} is signed, and this "
                "docket has no signing key to verify it"
            )
        return data

    # -- calls --------------------------------------------------------------

    def encode_call(
        self,
        function_name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        function: Callable[..., Any] | None = None,
    ) -> bytes:
        """A call's stored payload; a TypeError names any argument that cannot be encoded."""
        if self.kind == "json":
            named = list(zip(_argument_names(function, args), args, strict=True))
            for name, value in named + list(kwargs.items()):
                problem = json_codec.non_json(value)
                if problem is not None:
                    raise TypeError(
                        f"argument {name!r} of task {function_name!r}: {problem} is not JSON"
                    )
            body = json_codec.pack_call(args, kwargs)
        else:
            body = encode_call(function_name, args, kwargs, function)
        return self._seal(CALL, function_name, body)

    def check_payload_size(self, function_name: str, payload: bytes) -> None:
        """ValueError naming the size and the limit when ``payload`` is over ``max_payload_size``."""
        limit = self.max_payload_size
        if limit is not None and len(payload) > limit:
            raise ValueError(
                f"the payload of task {function_name!r} is {len(payload):,} bytes, "
                f"over max_payload_size {limit:,} bytes"
            )

    def verify_call(self, payload: bytes, function_name: str, what: str) -> None:
        """``BadSignature`` naming ``what`` unless ``payload`` is signed for ``function_name``."""
        try:
            self._open(CALL, function_name, payload)
        except BadSignature as error:
            raise BadSignature(f"{what}: {error}") from None

    def decode_call(
        self, payload: bytes, function_name: str
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` from a payload stored for ``function_name``.

        ``BadSignature`` when the signature does not hold, ValueError when
        it is not a call.
        """
        body = self._open(CALL, function_name, payload)
        if self.kind == "json":
            return json_codec.unpack_call(body)
        return decode_call(body)

    # -- results and errors ---------------------------------------------------

    def encode_value(self, value: Any, key: str) -> bytes:
        """A run's return value, stored for the execution ``key``."""
        body = json_codec.dumps(value) if self.kind == "json" else encode_value(value)
        return self._seal(RESULT, key, body)

    def decode_value(self, data: bytes, key: str) -> Any:
        """The return value stored for ``key``; ``BadSignature`` if its signature fails."""
        body = self._open(RESULT, key, data)
        return json_codec.loads(body) if self.kind == "json" else decode_value(body)

    def encode_exception(self, error: BaseException, key: str) -> bytes | None:
        """A run's exception for ``key`` (JSON: its type name and message), or None if it
        cannot be encoded."""
        if self.kind == "json":
            body: bytes | None = json_codec.pack_exception(error)
        else:
            body = encode_exception(error)
        return None if body is None else self._seal(RESULT, key, body)

    def decode_exception(self, data: bytes, key: str) -> BaseException | None:
        """The exception stored for ``key``, or None if it cannot be decoded.

        Under JSON it is an ``ExecutionFailed`` saying the original type and
        message.  ``BadSignature`` if the signature fails.
        """
        body = self._open(RESULT, key, data)
        try:
            if self.kind == "json":
                kind, message = json_codec.unpack_exception(body)
                return ExecutionFailed(f"{kind}: {message}")
            error = decode_value(body)
        except Exception:
            return None
        return error if isinstance(error, BaseException) else None

    # -- other objects (strike rules) -----------------------------------------

    def encode_object(self, purpose: str, subject: str, value: Any) -> bytes:
        """Any value docket stores for ``purpose`` (JSON: JSON values only, else TypeError)."""
        body = json_codec.dumps(value) if self.kind == "json" else encode_value(value)
        return self._seal(purpose, subject, body)

    def decode_object(self, purpose: str, subject: str, data: bytes) -> Any:
        """A value ``encode_object`` stored; ``BadSignature`` if its signature fails."""
        body = self._open(purpose, subject, data)
        return json_codec.loads(body) if self.kind == "json" else decode_value(body)

    def __repr__(self) -> str:
        keys = 0 if self._signer is None else self._signer.key_count
        return (
            f"Codec({self.kind!r}, signing_keys=<{keys} hidden>, "
            f"max_payload_size={self.max_payload_size!r})"
        )


DEFAULT_CODEC = Codec(read_environment=False)
"""cloudpickle, unsigned, unlimited: what a docket without these settings uses."""
