"""Time skipping stops where something must happen, not at every heartbeat.

A run asleep on the docket clock for an hour under a five-minute lease needs
the clock to stop at each lease renewal on the way (so the lease holds), but
not at each two-second heartbeat: heartbeats on a ``VirtualClock`` are due
once the clock has moved past them.  Counted through ``VirtualClock.on_move``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from docket import CurrentDocket, Docket, ExecutionState, VirtualClock, Worker


async def test_an_hour_asleep_stops_at_the_renewals_not_the_heartbeats() -> None:
    clock = VirtualClock()
    moves: list[datetime] = []
    clock.on_move(moves.append)
    name = f"steps-{uuid.uuid4().hex[:12]}"
    async with Docket(
        name=name, url=f"memory://{name}", clock=clock, heartbeat_interval=timedelta(seconds=2)
    ) as docket:

        async def sleeper(docket: Docket = CurrentDocket()) -> None:
            await docket.clock.sleep(3600)

        execution = await docket.add(sleeper)()
        async with Worker(docket, redelivery_timeout=timedelta(minutes=5)) as worker:
            await worker.run_until_finished()
        await execution.sync()
    assert execution.state is ExecutionState.COMPLETED
    # 48 renewals (every 75 s) and the wake at the hour; one per heartbeat
    # would be 1,800.
    assert 48 <= len(moves) <= 60, len(moves)
