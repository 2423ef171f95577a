"""SettlementBatcher: writes run outcomes to the engine in batches.

Each finished run hands its settlement to the batcher with a callback and
goes on; the run does not wait for storage.  Settlements are written in
batches, by one writer at a time:

* while a worker's claim loop runs, the loop takes them (``take``) and writes
  them in the same round trip as its next claim; ``autoflush`` is off then,
  so no second writer races it into a round trip of its own;
* otherwise one flusher task writes whatever has accumulated in a single
  ``settle`` call; runs that finish while a write is in flight go in the next.

A busy worker therefore spends one round trip per batch of outcomes, not one
per run, and a slot is never held by a write.  A settlement handed to a
writer is *in flight* until its outcome is reported; when a write fails, the
flusher waits ``RETRY_SECONDS`` (on the clock) before it writes again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from docket.clock import Clock
from docket.engines.base import Engine, Settlement

__all__ = ["SettlementBatcher", "SettlementCallback"]

logger = logging.getLogger(__name__)

RETRY_SECONDS = 0.5
"""How long the flusher waits, on the docket's clock, after a batch it could not write."""

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
        self._in_flight: set[str] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._autoflush = True

    @property
    def autoflush(self) -> bool:
        """Whether the batcher's own flusher writes what is submitted.

        Turned off while another writer (a claim loop) takes the settlements;
        turning it back on starts the flusher for whatever that writer left.
        """
        return self._autoflush

    @autoflush.setter
    def autoflush(self, enabled: bool) -> None:
        self._autoflush = enabled
        if enabled and self._pending:
            self._start_flusher()

    def submit(self, settlement: Settlement, done: SettlementCallback) -> None:
        """Write ``settlement`` with the next batch, then call ``done``."""
        self._pending.append((settlement, done))
        if self._autoflush:
            self._start_flusher()

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    def __len__(self) -> int:
        """How many settlements wait to be written and are not yet being written."""
        return len(self._pending)

    def writing(self, delivery: str) -> bool:
        """Whether the outcome of ``delivery`` is being written right now."""
        return delivery in self._in_flight

    def take(self) -> list[tuple[Settlement, SettlementCallback]]:
        """Take every settlement not yet being written, to write along with a claim.

        The caller writes them and hands the outcome to ``report`` (or gives
        them back with ``resubmit``).
        """
        taken, self._pending = self._pending, []
        self._in_flight.update(settlement.delivery for settlement, _ in taken)
        return taken

    def resubmit(self, taken: list[tuple[Settlement, SettlementCallback]]) -> None:
        """Give back settlements from ``take`` that their taker could not write."""
        for settlement, done in taken:
            self._in_flight.discard(settlement.delivery)
            self.submit(settlement, done)

    async def flush(self) -> bool:
        """Write every pending settlement now, in one ``settle`` call, and report each.

        False if the write failed (each settlement's callback heard why).
        """
        batch = self.take()
        if not batch:
            return True
        try:
            applied = await self._engine.settle([s for s, _ in batch], self._clock.now())
        except asyncio.CancelledError:
            self.resubmit(batch)
            raise
        except Exception as error:
            self.report(batch, [None] * len(batch), error)
            return False
        self.report(batch, applied, None)
        return True

    async def drain(self) -> None:
        """Wait until every settlement handed over so far has been written."""
        if self._pending:
            self._start_flusher()
        while self._flusher is not None and not self._flusher.done():
            # Waiting must not cancel the flusher if this caller is cancelled.
            await asyncio.wait([self._flusher])

    async def _flush(self) -> None:
        while self._pending:
            if not await self.flush():
                # Storage is away: give it a moment before the retries go out.
                await self._clock.sleep(RETRY_SECONDS)

    def report(
        self,
        batch: list[tuple[Settlement, SettlementCallback]],
        applied: list[bool] | list[None],
        error: BaseException | None,
    ) -> None:
        """Tell each settlement of ``batch`` its outcome: ``applied``, or ``error``."""
        for settlement, _ in batch:
            self._in_flight.discard(settlement.delivery)
        for (_, done), outcome in zip(batch, applied, strict=True):
            try:
                done(outcome, error)
            except Exception:
                # One bad callback must not keep the rest of the batch from hearing.
                logger.exception("A settlement callback raised")
