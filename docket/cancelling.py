"""Cancelling work in batches: ``Docket.cancel_many``.

``cancel_many`` checks every key before anything is sent, then hands the keys
to the engine ``chunk_size`` at a time (one round trip per chunk on Redis) and
reports, per key and in order, whether that key's work was cancelled, exactly
as ``Docket.cancel`` called on each key in turn would have found it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from docket.instrumentation import TASKS_CANCELLED, producer_span
from docket.scheduling import check_chunk_size

if TYPE_CHECKING:
    from docket.docket import Docket

__all__ = ["cancel_many", "check_keys"]


def check_keys(keys: Iterable[str]) -> list[str]:
    """The keys as a list; refuse a lone string and any key that is not a non-empty string."""
    # A string is an iterable of one-letter keys: surely a mistake for [key].
    if isinstance(keys, (str, bytes)):
        raise TypeError(f"keys must be an iterable of keys, not a single key: got {keys!r}")
    try:
        batch = list(keys)
    except TypeError:
        raise TypeError(f"keys must be an iterable of keys, got {keys!r}") from None
    for index, key in enumerate(batch):
        if not isinstance(key, str):
            raise TypeError(f"keys must hold strings, got {key!r} at keys[{index}]")
        if not key:
            raise ValueError(f"keys must hold non-empty strings, got {key!r} at keys[{index}]")
    return batch


async def cancel_many(docket: Docket, keys: Iterable[str], chunk_size: int | None) -> list[bool]:
    """Cancel each key's work in order, ``chunk_size`` keys per engine call (None: one call).

    Returns, per key, whether this call cancelled that key's work.
    """
    check_chunk_size(chunk_size)
    batch = check_keys(keys)
    results: list[bool] = []
    with producer_span("cancel_many", docket.name, {"docket.count": str(len(batch))}) as span:
        size = chunk_size or max(1, len(batch))
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            # Each chunk reads the clock afresh, as that many cancel calls would.
            results.extend(
                await docket.engine.cancel_many(chunk, docket.clock.now(), docket.execution_ttl)
            )
        cancelled = sum(results)
        span.set_attribute("docket.cancelled", cancelled)
    if cancelled:
        TASKS_CANCELLED.add(cancelled, {"docket.name": docket.name})
    return results
