"""The user-data operations of the engine seam: the user's own keys beside the docket's.

pydocket programs keep data of their own next to the docket
(``docket.key(...)``, ``async with docket.redis() as r``); these name those
keys and hand out a client for them.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

__all__ = ["UserDataOperations"]


class UserDataOperations(Protocol):
    """Naming the user's keys and reaching them."""

    def user_key(self, suffix: str) -> str:
        """The full name of the user's key ``suffix``: ``{name}:suffix``.

        It shares the docket's hash tag, so it sits beside the docket's own
        keys (on one cluster slot).  ValueError when ``suffix`` is not a
        non-empty string or names one of the engine's own keys.
        """
        ...

    def redis(self) -> AbstractAsyncContextManager[Any]:
        """A redis-py asyncio client (bytes replies) for the user's own data.

        The Redis engine's client talks to the docket's server on the
        engine's own connections; the memory engine's to an in-process
        fakeredis server shared, like its store, by every engine of the same
        URL and docket name.  Name keys with ``user_key`` and leave the
        docket's own keys alone.  The engine must be open.
        """
        ...
