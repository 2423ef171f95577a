"""``get_result`` re-reads the record now and then, so a lost end event cannot strand it.

Redis pub/sub is at most once.  Here the docket's subscription is replaced by
one that never delivers anything, as if every event were lost: the wait still
ends, ``RECHECK_SECONDS`` of docket time after the work did.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from docket import Docket, VirtualClock, Worker
from docket.engines.base import Event
from docket.following import RECHECK_SECONDS


@asynccontextmanager
async def silent_subscription(key: str) -> AsyncIterator[AsyncIterator[Event]]:
    async def nothing() -> AsyncIterator[Event]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]  # never reached

    yield nothing()


async def settle_loop() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def answer() -> int:
    return 42


async def test_a_lost_end_event_is_made_up_for_by_a_recheck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = VirtualClock()
    name = f"recheck-{uuid.uuid4().hex[:8]}"
    async with Docket(name, url=f"memory://{name}", clock=clock) as docket:
        execution = await docket.add(answer)()
        monkeypatch.setattr(docket.engine, "subscribe", silent_subscription)
        waiting = asyncio.create_task(execution.get_result())
        await settle_loop()
        async with Worker(docket) as worker:
            await worker.run_until_finished()
        await settle_loop()
        assert not waiting.done()  # no event came

        clock.advance(timedelta(seconds=RECHECK_SECONDS))
        assert await asyncio.wait_for(waiting, 5) == 42


async def test_a_recheck_does_not_take_a_later_run_still_going_as_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = VirtualClock()
    name = f"recheck-{uuid.uuid4().hex[:8]}"
    async with Docket(name, url=f"memory://{name}", clock=clock) as docket:
        execution = await docket.add(answer, when=clock.now() + timedelta(hours=1))()
        monkeypatch.setattr(docket.engine, "subscribe", silent_subscription)
        waiting = asyncio.create_task(execution.get_result())
        await settle_loop()
        # Rescheduled (a new generation, still going): no end to take.
        await docket.replace(answer, clock.now() + timedelta(hours=2), execution.key)()
        clock.advance(timedelta(seconds=RECHECK_SECONDS))
        await settle_loop()
        assert not waiting.done()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
