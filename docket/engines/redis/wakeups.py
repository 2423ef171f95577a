"""Waking workers when work arrives, without polling.

Two paths, both needed:

* In this process, ``Signal`` (one per ``(url, docket name)``) is notified by
  every engine that adds work to the queue, so a worker in the same process
  wakes at once.  Each notification bumps a version; a claim records the
  version it saw in its cursor, so a notification that lands between the
  claim and the wait is not missed.  On fakeredis, where blocking reads
  return at once, this is the only path (every producer is in this process).
* Across processes, ``WakeReader`` keeps one ``XREAD BLOCK`` in flight on the
  docket's wake stream, on a connection without a socket read timeout.  Waiters
  await it without owning it, so a waiter that is cancelled (callers race
  waits against their clock) never cancels the read or breaks its connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["BLOCK_MS", "Signal", "WakeReader", "signal_for"]

logger = logging.getLogger("docket.engines.redis")

BLOCK_MS = 10_000
"""How long one blocking read lasts before it is reissued."""


class Signal:
    """In-process wake-ups for one docket."""

    def __init__(self) -> None:
        self.version = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def waiter(self) -> asyncio.Future[None]:
        """A future resolved by the next ``notify``; ``discard`` it when done."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(future)
        return future

    def discard(self, future: asyncio.Future[None]) -> None:
        self._waiters.discard(future)

    async def wait(self, version: int, reader: WakeReader | None, after: str) -> None:
        """Return once notified past ``version``, or once ``reader`` sees an
        entry after ``after`` (when given); at once if already notified."""
        if self.version != version:
            return
        waiter = self.waiter()
        try:
            if reader is None:
                await waiter
            else:
                # asyncio.wait never cancels what it waits for: cancelling this
                # call leaves the shared read (and its connection) alone.
                read = reader.watch(after)
                await asyncio.wait([waiter, read], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.discard(waiter)

    def notify(self) -> None:
        """Wake every waiter: work may have arrived."""
        self.version += 1
        waiters, self._waiters = self._waiters, set()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for future in waiters:
            loop = future.get_loop()
            if future.done() or loop.is_closed():
                continue
            if loop is running:
                future.set_result(None)
            else:
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_SIGNALS: dict[tuple[str, str], Signal] = {}


def signal_for(url: str, name: str) -> Signal:
    """The process-wide signal of docket ``name`` at ``url``."""
    signal = _SIGNALS.get((url, name))
    if signal is None:
        signal = _SIGNALS[(url, name)] = Signal()
    return signal


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


class WakeReader:
    """One blocking read of a wake stream in flight at a time, shared by waiters."""

    def __init__(self, client: Redis, stream: str) -> None:
        self._client = client
        self._stream = stream
        self._task: asyncio.Task[None] | None = None
        self._after = (0, 0)

    def watch(self, after: str) -> asyncio.Future[None]:
        """A future done once the stream has an entry after ``after``.

        A read still in flight is reused.  If it was started from a later
        position than ``after``, entries after ``after`` already exist, so the
        returned future is done at once.
        """
        position = _stream_id(after)
        task = self._task
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            if position < self._after:
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                done.set_result(None)
                return done
            return task
        self._after = position
        self._task = asyncio.get_running_loop().create_task(
            self._read(after), name=f"docket wake reader {self._stream}"
        )
        self._task.add_done_callback(_quiet)
        return self._task

    async def _read(self, after: str) -> None:
        while True:
            reply = await self._client.xread({self._stream: after}, block=BLOCK_MS)
            if reply:
                return

    async def close(self) -> None:
        """Cancel the read in flight (its connection is dropped, not reused)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            # asyncio.wait neither raises the read's own cancellation nor
            # swallows one aimed at close()'s caller.
            await asyncio.wait([task])


def _quiet(task: asyncio.Task[None]) -> None:
    # Read the outcome so a failed read (the server went away) is logged once
    # here instead of as "exception was never retrieved"; the next claim
    # surfaces the problem to the worker.
    if not task.cancelled() and task.exception() is not None:
        logger.debug("wake reader stopped: %r", task.exception())
