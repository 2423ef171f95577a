"""SettlementBatcher: writes run outcomes to the engine in batches.

Each finished run hands its settlement to the batcher and waits for the
result.  One flusher writes whatever has accumulated in a single ``settle``
call; runs that finish while a write is in flight go in the next one.  A busy
worker therefore spends one round trip per batch of outcomes, not one per run.
"""

from __future__ import annotations

import asyncio

from docket.clock import Clock
from docket.engines.base import Engine, Settlement

__all__ = ["SettlementBatcher"]


class SettlementBatcher:
    """Batches settlements for one engine; ``write`` returns whether it applied."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._pending: list[tuple[Settlement, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, settlement: Settlement) -> bool:
        """Write ``settlement`` with the next batch; False if it was stale.

        Raises what the engine raised if the batch could not be written.
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((settlement, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def drain(self) -> None:
        """Wait until every settlement handed over so far has been written."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                applied = await self._engine.settle([s for s, _ in batch], self._clock.now())
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), ok in zip(batch, applied, strict=True):
                if not future.done():
                    future.set_result(ok)
