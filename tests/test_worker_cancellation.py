"""A worker cancelled while its claim carries outcomes still writes those outcomes.

The worker sends the outcomes of ended runs along with its next claim.  If
it is cancelled before that call reaches storage, the outcomes must go back
to its batcher and be written when it drains, not be left for lease expiry.
The engine's call is held at a gate (on the memory twin) so the cancellation
lands before anything is sent.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from docket import Docket, ExecutionState, Worker

GUARD = 20.0


async def test_outcomes_in_a_claim_cut_short_by_cancellation_are_still_written() -> None:
    release = asyncio.Event()
    gate = asyncio.Event()
    stalled = asyncio.Event()

    async def hold() -> None:
        await release.wait()

    async with Docket(name="cancel", url=f"memory://{uuid.uuid4().hex[:8]}") as docket:
        executions = [await docket.add(hold)() for _ in range(3)]
        engine: Any = docket.engine
        settle_and_claim = engine.settle_and_claim

        async def held_at_the_gate(*args: Any, **kwargs: Any) -> Any:
            stalled.set()
            await gate.wait()
            return await settle_and_claim(*args, **kwargs)

        engine.settle_and_claim = held_at_the_gate

        async def work() -> None:
            async with Worker(docket, concurrency=3, prefetch=0) as worker:
                await worker.run_forever()

        runner = asyncio.create_task(work())
        for _ in range(100):
            if len((await docket.snapshot()).running) == 3:
                break
            await asyncio.sleep(0)
        release.set()
        await asyncio.wait_for(stalled.wait(), GUARD)
        runner.cancel()
        await asyncio.wait_for(asyncio.gather(runner, return_exceptions=True), GUARD)

        for execution in executions:
            await execution.sync()
            assert execution.state is ExecutionState.COMPLETED, execution
