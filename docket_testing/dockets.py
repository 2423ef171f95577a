"""Making a test's own docket and deleting everything it stored afterwards.

Every test (and every Hypothesis example) should get a docket no other test
sees: ``open_docket`` opens one with a unique name on any engine URL, driven
by a ``VirtualClock``, and ``discard``s it on the way out.  ``Docket.clear()``
alone is not enough: it cancels pending work but keeps records (for
``execution_ttl``), heartbeats, strikes and, on Redis, the stream itself, so
a suite that opens thousands of dockets would leave all of that behind.
Where a test docket lives and how its storage is deleted, the engine registry
(``docket.engines``) says.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from docket.engines import discard_storage, per_test_url, scheme_list, storage_error
from docket.errors import InvalidURL, StorageUnavailable

if TYPE_CHECKING:
    from docket import Clock, Docket

__all__ = [
    "discard",
    "docket_location",
    "open_docket",
    "unique_docket_name",
]

logger = logging.getLogger("docket_testing.dockets")


def unique_docket_name() -> str:
    """A docket name no other test uses (so tests sharing one Redis never meet)."""
    return f"docket-test-{uuid.uuid4().hex[:16]}"


def docket_location(base_url: str, name: str) -> str:
    """The URL a test docket named ``name`` opens for ``base_url``.

    A bare ``memory://`` becomes ``memory://NAME``, the docket's own store;
    any other URL is used as it is (the unique name keeps dockets apart).
    A URL no engine opens is a ValueError naming it, passwords hidden.
    """
    try:
        return per_test_url(base_url, name)
    except InvalidURL as error:
        raise ValueError(
            f"a test docket URL must start with one of {scheme_list()}; "
            f"got {error.url!r} ({error.reason})"
        ) from None


@asynccontextmanager
async def open_docket(
    url: str = "memory://", *, clock: Clock | None = None, **options: Any
) -> AsyncIterator[Docket]:
    """Open a uniquely named docket on ``url``; clear and discard it on exit.

    ``clock`` defaults to a new ``VirtualClock``; ``options`` go to
    ``Docket`` (``execution_ttl=...``, say).  Use it where a fixture cannot
    help, such as once per Hypothesis example::

        async with open_docket(docket_url) as docket:
            ...

    Storage that cannot be reached (a Redis that is down) raises docket's
    ``StorageUnavailable``, naming the URL with its passwords hidden, and
    nothing is discarded: there is nowhere to discard it from.
    """
    from docket import Docket, VirtualClock

    name = unique_docket_name()
    docket = Docket(
        name=name,
        url=docket_location(url, name),
        clock=clock if clock is not None else VirtualClock(),
        **options,
    )
    try:
        await docket.__aenter__()
    except BaseException as error:
        unreachable = storage_error(error, docket.url) if isinstance(error, Exception) else None
        if isinstance(unreachable, StorageUnavailable):
            # A second connection attempt (to discard) would only fail again,
            # slowly, and bury the one line that says what is wrong.
            raise unreachable from error
        await discard(docket)
        raise
    try:
        async with AsyncExitStack() as entered:
            entered.push_async_exit(docket)
            yield docket
            await docket.clear()
    finally:
        await discard(docket)


async def discard(docket: Docket) -> None:
    """Delete everything stored for ``docket`` (open or closed).

    Only for a docket whose name no one else uses: on Redis it deletes every
    key under the docket's hash tag ``{name}:``.  Failures are logged, not
    raised, so cleanup never hides a test's own outcome.
    """
    try:
        await discard_storage(docket.url, docket.name)
    except Exception:
        logger.warning("Could not delete the storage of %r", docket, exc_info=True)
