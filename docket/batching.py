"""SettlementBatcher: writes run outcomes to the engine in batches.

Each finished run hands its settlement to the batcher with a callback and
goes on; the run does not wait for storage.  One flusher writes whatever has
accumulated in a single ``settle`` call; runs that finish while a write is in
flight go in the next one.  A busy worker therefore spends one round trip per
batch of outcomes, not one per run, and a slot is never held by a write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from docket.clock import Clock
from docket.engines.base import Engine, Settlement

__all__ = ["SettlementBatcher", "SettlementCallback"]

logger = logging.getLogger(__name__)

SettlementCallback = Callable[[bool | None, BaseException | None], None]
"""Told the outcome of one settlement: ``(applied, None)`` once it is written,
where ``applied`` is False for a stale settlement, or ``(None, error)`` when the
batch holding it could not be written."""


class SettlementBatcher:
    """Batches settlements for one engine and reports each one's outcome."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._pending: list[tuple[Settlement, SettlementCallback]] = []
        self._flusher: asyncio.Task[None] | None = None

    def submit(self, settlement: Settlement, done: SettlementCallback) -> None:
        """Write ``settlement`` with the next batch, then call ``done``."""
        self._pending.append((settlement, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    def take(self) -> list[tuple[Settlement, SettlementCallback]]:
        """Take every settlement not yet being written, to write along with a claim.

        The caller writes them and hands the outcome to ``report``.
        """
        taken, self._pending = self._pending, []
        return taken

    def resubmit(self, taken: list[tuple[Settlement, SettlementCallback]]) -> None:
        """Give back settlements from ``take`` that their taker could not write."""
        for settlement, done in taken:
            self.submit(settlement, done)

    async def drain(self) -> None:
        """Wait until every settlement handed over so far has been written."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                applied = await self._engine.settle([s for s, _ in batch], self._clock.now())
            except Exception as error:
                self.report(batch, [None] * len(batch), error)
                continue
            self.report(batch, applied, None)

    @staticmethod
    def report(
        batch: list[tuple[Settlement, SettlementCallback]],
        applied: list[bool] | list[None],
        error: BaseException | None,
    ) -> None:
        """Tell each settlement of ``batch`` its outcome: ``applied``, or ``error``."""
        for (_, done), outcome in zip(batch, applied, strict=True):
            try:
                done(outcome, error)
            except Exception:
                # One bad callback must not keep the rest of the batch from hearing.
                logger.exception("A settlement callback raised")
