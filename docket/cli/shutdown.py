"""Signals for a running worker: SIGTERM/SIGINT stop it gracefully, then at once.

* the first SIGTERM or SIGINT stops claiming, lets running work finish, and
  the worker returns normally (``docket worker`` exits 0);
* a second one cancels running work, hands its deliveries back to the queue
  (another worker takes them at once, not when their leases expire) and makes
  the worker return at once (``docket worker`` exits 128 + the signal
  number), even past a task that ignores its cancellation;
* a third (if cancellation itself hangs) ends the process on the spot.

Handlers are installed only where the event loop supports them (the main
thread, on Unix); elsewhere the worker simply runs without them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

from docket.cli.health import HealthMonitor
from docket.clock import SystemClock
from docket.worker import Worker

__all__ = ["Shutdown"]

logger = logging.getLogger("docket.cli")


class Shutdown:
    """Turns SIGTERM/SIGINT into a graceful stop, then a forced one, then an exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(
        self, worker: Worker, task: asyncio.Task[Any], monitor: HealthMonitor | None
    ) -> None:
        self.worker = worker
        self.task = task
        self.monitor = monitor
        self.received = 0
        self.forced_by: int | None = None
        self._installed: list[int] = []
        self._insisting: asyncio.Task[None] | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self.SIGNALS:
            try:
                loop.add_signal_handler(signum, self.handle, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or not supported here
            self._installed.append(signum)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed = []

    def handle(self, signum: int) -> None:
        self.received += 1
        name = signal.Signals(signum).name
        if self.received == 1:
            logger.warning(
                "Received %s: no longer claiming work; finishing the work that is running "
                "(send %s again to exit at once)",
                name,
                name,
            )
            if self.monitor is not None:
                self.monitor.claiming = False
            self.worker.stop()
        elif self.received == 2:
            logger.warning("Received %s again: abandoning running work and exiting now", name)
            self.forced_by = signum
            self.worker.abandon()
            self._insisting = asyncio.get_running_loop().create_task(self._insist())
        else:
            os._exit(128 + signum)

    async def _insist(self) -> None:
        """Cancel the main task until it ends.

        One cancellation can be absorbed by the claim loop just before the
        worker starts draining, and a drain waits for running work; repeating
        it reaches the drain too, which then abandons that work.
        """
        clock = SystemClock()
        while not self.task.done():
            self.task.cancel()
            await clock.sleep(0.05)
