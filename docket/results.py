"""Results kept in a ``result_storage`` the user gave the Docket (pydocket's option).

By default a run's result (or final exception) is kept in its execution
record.  With ``Docket(result_storage=store)``, where ``store`` is a
py-key-value ``AsyncKeyValue`` (``put(key, value, *, ttl=None)`` and
``get(key)``), the worker puts it there instead, under
``"{key}:{generation}"`` as ``{"data": base64 of the encoded value}`` for
``execution_ttl``, and ``get_result`` reads it back from there.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docket.docket import Docket

__all__ = ["fetch_result", "result_key", "set_up", "store_result"]

logger = logging.getLogger("docket.worker")


def result_key(key: str, generation: int) -> str:
    """Where the result of the run of ``key`` at ``generation`` is kept."""
    return f"{key}:{generation}"


async def set_up(store: Any) -> None:
    """Let a store that needs it (``setup()``) prepare itself when the docket opens."""
    setup = getattr(store, "setup", None)
    if callable(setup):
        await setup()


async def store_result(docket: Docket, key: str, generation: int, encoded: bytes) -> bool:
    """Put an encoded result into the docket's ``result_storage``; True if it is there.

    False when there is no such store, records are not kept
    (``execution_ttl`` of zero), or the store failed (logged; the record
    keeps the result instead).
    """
    store = docket.result_storage
    seconds = docket.execution_ttl.total_seconds()
    if store is None or seconds <= 0:
        return False
    try:
        await store.put(
            result_key(key, generation),
            {"data": base64.b64encode(encoded).decode("ascii")},
            ttl=seconds,
        )
    except Exception:
        logger.warning(
            "Could not put the result of %r in the docket's result_storage; "
            "keeping it in the execution record",
            key,
            exc_info=True,
        )
        return False
    return True


async def fetch_result(docket: Docket, key: str, generation: int) -> bytes | None:
    """The encoded result kept in the docket's ``result_storage``, or None."""
    store = docket.result_storage
    if store is None:
        return None
    stored = await store.get(result_key(key, generation))
    if not stored or "data" not in stored:
        return None
    return base64.b64decode(stored["data"])
