"""The strike operations of the engine seam: the docket's strike rules, stored and watched.

Rules are stored encoded (``strike_rules.py`` owns their meaning); the engine
only keeps them by rule id and tells watchers when they change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

__all__ = ["StrikeOperations"]


class StrikeOperations(Protocol):
    """Storing, reading and watching the strike rules."""

    async def update_strikes(self, rule_id: str, rule: bytes | None) -> None:
        """Store the encoded strike ``rule`` under ``rule_id``, or remove it when
        ``rule`` is None, and tell every ``watch_strikes`` listener."""
        ...

    async def strikes(self) -> dict[str, bytes]:
        """Every strike rule in force, encoded, by rule id."""
        ...

    def watch_strikes(self) -> AbstractAsyncContextManager[AsyncIterator[None]]:
        """Yield once each time the strike rules change.

        Active once the context is entered, so a caller that enters it and
        then reads ``strikes()`` cannot miss a change.
        """
        ...
