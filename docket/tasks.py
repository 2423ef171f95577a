"""Built-in tasks, registered on every docket: ``trace``, ``fail`` and ``sleep``.

They exist to check a deployment end to end: ``docket tasks trace`` should
show up in a worker's log, ``fail`` should show retries and a failure, and
``sleep`` should hold a worker slot.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from docket.dependencies import (
    CurrentDocket,
    CurrentExecution,
    CurrentWorker,
    Retry,
    TaskLogger,
)

__all__ = ["fail", "sleep", "standard_tasks", "trace"]


async def trace(
    message: str = "Howdy!",
    logger: Any = TaskLogger(),
    docket: Any = CurrentDocket(),
    worker: Any = CurrentWorker(),
    execution: Any = CurrentExecution(),
) -> None:
    """Log ``message`` with how long ago it was added and which worker runs it."""
    ago = docket.clock.now() - execution.when
    logger.info(
        "%s: %r added to docket %r %s ago now running on worker %r",
        message,
        execution.key,
        docket.name,
        ago,
        worker.name,
    )


async def fail(
    message: str = "Howdy!",
    docket: Any = CurrentDocket(),
    worker: Any = CurrentWorker(),
    execution: Any = CurrentExecution(),
    retry: Retry = Retry(attempts=2),
) -> None:
    """Always raise, so a deployment can watch a retry and a failure happen."""
    ago = docket.clock.now() - execution.when
    raise RuntimeError(
        f"{message}: {execution.key!r} added to docket {docket.name!r} {ago} ago "
        f"now failing on worker {worker.name!r} (attempt {retry.attempt})"
    )


async def sleep(
    seconds: float = 1.0,
    logger: Any = TaskLogger(),
    *,
    docket: Any = CurrentDocket(),
) -> None:
    """Sleep ``seconds`` on the docket's clock, holding a worker slot."""
    logger.info("Sleeping for %s", timedelta(seconds=seconds))
    await docket.clock.sleep(seconds)
    logging.getLogger("docket.task.sleep").debug("Slept %s s", seconds)


standard_tasks = (trace, fail, sleep)
"""The built-in tasks every Docket registers."""
