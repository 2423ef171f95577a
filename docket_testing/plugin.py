"""The pytest plugin entry point: fixtures for testing code that uses docket."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from docket import Docket, VirtualClock, Worker

__all__ = ["clock", "docket", "worker"]


@pytest.fixture
def clock() -> VirtualClock:
    """A VirtualClock starting at the current time; it moves only when told to."""
    return VirtualClock()


@pytest_asyncio.fixture
async def docket(clock: VirtualClock) -> AsyncIterator[Docket]:
    """A Docket on a fresh ``memory://`` store, driven by ``clock``."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    async with Docket(name=name, url=f"memory://{name}", clock=clock) as opened:
        yield opened


@pytest_asyncio.fixture
async def worker(docket: Docket) -> AsyncIterator[Worker]:
    """A Worker for ``docket``, stopped when the test ends."""
    async with Worker(docket) as running:
        yield running
