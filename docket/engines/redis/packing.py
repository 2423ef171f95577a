"""Packing commands into the Redis protocol with hiredis's C packer, when installed.

redis-py's synchronous connections pack with hiredis when it is installed; its
asyncio connections always pack in Python, argument by argument.  A worker's
settle-and-claim round trip carries some two hundred arguments, and packing
them in Python costs more than the rest of that round trip's client work.  The
connection classes made here pack exactly as redis-py's synchronous hiredis
packer does, and fall back to redis-py's own packing when hiredis is missing
(it is the ``hiredis`` extra) or the connection encodes text other than as
strict UTF-8, the only encoding hiredis packs.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import DataError

try:
    import hiredis
except ImportError:  # pragma: no cover - hiredis is in the test extra
    hiredis = None  # type: ignore[assignment]

__all__ = ["HIREDIS_PACKING", "packing_connection_class"]

HIREDIS_PACKING: bool = hiredis is not None and hasattr(hiredis, "pack_command")
"""Whether commands can be packed by hiredis in this environment."""


class _HiredisPacking:
    """Mixin: ``pack_command`` by hiredis, with redis-py's splitting and errors."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # As redis-py does: a command name such as "CONFIG GET" goes as two words.
        if isinstance(args[0], str):
            args = tuple(args[0].encode().split()) + args[1:]
        elif b" " in args[0]:
            args = tuple(args[0].split()) + args[1:]
        try:
            return [hiredis.pack_command(args)]
        except TypeError as error:
            # redis-py's encoder raises DataError for what it cannot send.
            raise DataError(f"{error} Got {args!r}") from error


# One subclass per connection class, so every pool shares it.
_SUBCLASSES: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _with_hiredis(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    subclass = _SUBCLASSES.get(connection_class)
    if subclass is None:
        name = f"Hiredis{connection_class.__name__}"
        subclass = _SUBCLASSES[connection_class] = type(
            name, (_HiredisPacking, connection_class), {}
        )
    return subclass


def packing_connection_class(
    connection_class: type[AbstractConnection], connection_kwargs: dict[str, Any]
) -> type[AbstractConnection]:
    """``connection_class``, packing with hiredis when it can do so exactly."""
    encoding = str(connection_kwargs.get("encoding", "utf-8")).lower().replace("_", "-")
    errors = connection_kwargs.get("encoding_errors", "strict")
    if not HIREDIS_PACKING or encoding not in ("utf-8", "utf8") or errors != "strict":
        return connection_class
    return _with_hiredis(connection_class)
