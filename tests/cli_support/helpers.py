"""Tasks (and worker dependencies) the CLI tests run in real worker processes.

Tasks wait on files rather than on time, so a test decides exactly when a
running task may finish: ``hold`` waits for its release file, ``stepped``
reports progress one step per file.  ``report`` prints the settings its
worker runs with, so a test can see that an option reached the Worker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from docket import CurrentDocket, CurrentWorker, Depends, Docket, Progress, Worker


async def _wait_for(path: Path) -> None:
    while not path.exists():
        await asyncio.sleep(0.01)


async def hold(release: str) -> str:
    """Run until the file ``release`` exists."""
    await _wait_for(Path(release))
    print(f"released {release}", flush=True)
    return release


async def stepped(directory: str, steps: int, progress: Progress = Progress()) -> None:
    """Report ``steps`` steps of progress; step ``i`` waits for the file ``step-i``."""
    await progress.set_total(steps)
    for step in range(1, steps + 1):
        await _wait_for(Path(directory) / f"step-{step}")
        await progress.increment()
        await progress.set_message(f"finished step {step}")


async def stubborn(marker: str) -> str:
    """On its first run, ignore every cancellation; on any later run, finish at once."""
    first = Path(marker)
    if first.exists():
        return "second run"
    first.touch()
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            continue


async def boom(message: str) -> None:
    """Always fail."""
    raise RuntimeError(message)


async def fallback(*args: object, **kwargs: object) -> None:
    """Stands in for tasks the worker does not know."""
    print(f"fallback ran with {args!r} {kwargs!r}", flush=True)


tasks = [hold, stepped, boom, stubborn]

not_tasks = 42


class Opaque:
    """An argument type that only processes which can import this module can decode."""

    def __init__(self, value: int) -> None:
        self.value = value


@asynccontextmanager
async def _around_every_task() -> AsyncIterator[str]:
    print("dependency entered", flush=True)
    yield "around"
    print("dependency exited", flush=True)


dependencies = [Depends(_around_every_task)]
"""Worker dependencies named by ``--dependencies cli_support.helpers:dependencies``."""

named_dependencies = {"around": Depends(_around_every_task)}

bad_dependencies = [Depends(_around_every_task), 42]


async def report(
    worker: Worker = CurrentWorker(), docket: Docket = CurrentDocket()
) -> dict[str, Any]:
    """Print (and return) the settings the worker and its docket run with, as one JSON line."""
    settings: dict[str, Any] = {
        "docket": docket.name,
        "docket_instrumentation": docket.enable_internal_instrumentation,
        "name": worker.name,
        "concurrency": worker.concurrency,
        "message_batch": worker.message_batch,
        "prefetch": worker.prefetch,
        "max_deliveries": worker.max_deliveries,
        "redelivery_timeout": worker.redelivery_timeout.total_seconds(),
        "reconnection_delay": worker.reconnection_delay.total_seconds(),
        "minimum_check_interval": worker.minimum_check_interval.total_seconds(),
        "scheduling_resolution": worker.scheduling_resolution.total_seconds(),
        "schedule_automatic_tasks": worker.schedule_automatic_tasks,
        "worker_instrumentation": worker.enable_internal_instrumentation,
        "fallback_task": getattr(worker.fallback_task, "__name__", None),
        "dependencies": sorted(worker.dependencies),
    }
    print("settings " + json.dumps(settings, sort_keys=True), flush=True)
    return settings


settings_tasks = [report]
