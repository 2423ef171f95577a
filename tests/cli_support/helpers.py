"""Tasks the CLI tests run in real worker processes.

Tasks wait on files rather than on time, so a test decides exactly when a
running task may finish: ``hold`` waits for its release file, ``stepped``
reports progress one step per file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from docket import Progress
from docket.execution import ExecutionProgress


async def _wait_for(path: Path) -> None:
    while not path.exists():
        await asyncio.sleep(0.01)


async def hold(release: str) -> str:
    """Run until the file ``release`` exists."""
    await _wait_for(Path(release))
    print(f"released {release}", flush=True)
    return release


async def stepped(directory: str, steps: int, progress: ExecutionProgress = Progress()) -> None:
    """Report ``steps`` steps of progress; step ``i`` waits for the file ``step-i``."""
    await progress.set_total(steps)
    for step in range(1, steps + 1):
        await _wait_for(Path(directory) / f"step-{step}")
        await progress.increment()
        await progress.set_message(f"finished step {step}")


async def boom(message: str) -> None:
    """Always fail."""
    raise RuntimeError(message)


async def fallback(*args: object, **kwargs: object) -> None:
    """Stands in for tasks the worker does not know."""
    print(f"fallback ran with {args!r} {kwargs!r}", flush=True)


tasks = [hold, stepped, boom]

not_tasks = 42


class Opaque:
    """An argument type that only processes which can import this module can decode."""

    def __init__(self, value: int) -> None:
        self.value = value
