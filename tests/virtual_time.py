"""Shared helpers for unit tests that drive a memory docket with a VirtualClock."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import pytest

from docket import Docket, VirtualClock

T = TypeVar("T")

START = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
"""A Monday, noon UTC: where these tests' virtual clocks start."""


@asynccontextmanager
async def memory_docket(clock: VirtualClock, prefix: str) -> AsyncIterator[Docket]:
    """A Docket on a fresh memory:// store driven by ``clock``."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    async with Docket(name=name, url=f"memory://{name}", clock=clock) as opened:
        yield opened


async def settle(rounds: int = 50) -> None:
    """Let every ready task run a little."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def drive(clock: VirtualClock, work: Awaitable[T], step: timedelta, guard: float = 20.0) -> T:
    """Await ``work``, advancing ``clock`` by ``step`` whenever the loop is idle.

    A worker on a clock that skips idle time moves it too; a round in which
    the clock moved by itself is not idle, so the step waits for the next, and
    never lands between the worker's jump and the run that jump woke.
    """
    task = asyncio.ensure_future(work)
    give_up = time.monotonic() + guard
    try:
        while True:
            before = clock.now()
            await settle()
            if task.done():
                return task.result()
            if time.monotonic() > give_up:
                pytest.fail(f"still waiting after {guard}s (real) for {work!r}")
            if clock.now() == before:
                clock.advance(step)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
