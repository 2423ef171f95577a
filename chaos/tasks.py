"""The tasks a chaos run schedules: ``record`` notes each run in the ground truth; ``poison`` kills its worker."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from docket import TaskKey

__all__ = ["LEDGER_ENV", "poison", "record", "tasks"]

LEDGER_ENV = "CHAOS_LEDGER"
"""The directory where each worker process appends the keys it ran, one file per process."""


def _note(key: str) -> None:
    ledger = Path(os.environ[LEDGER_ENV]) / f"{os.getpid()}.log"
    with ledger.open("a", encoding="utf-8") as file:
        file.write(f"{key}\n")
        file.flush()
        # The ground truth must survive the SIGKILL that may follow.
        os.fsync(file.fileno())


async def record(n: int, key: str = TaskKey()) -> int:
    """Note this run of ``key`` in the ground truth, then take a moment, as real work does."""
    _note(key)
    await asyncio.sleep((n % 5) / 1000)
    return n


async def poison(n: int, key: str = TaskKey()) -> None:
    """Note the run, then end the worker process on the spot (as an OOM kill would)."""
    _note(key)
    os._exit(70)


tasks = [record, poison]
