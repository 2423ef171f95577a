"""A year of an hourly perpetual task through docket_testing's helpers, on the memory twin.

8,761 runs (hour 0 to hour 8,760), each at its own virtual instant, and the
chain still scheduled for the hour after.  How long it takes is measured by
``benchmarks/virtual_year.py``, not here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from docket import Docket, Perpetual
from docket_testing import advance, assert_scheduled

HOUR = timedelta(hours=1)


async def test_an_hourly_perpetual_runs_8761_times_in_a_virtual_year(docket: Docket) -> None:
    start = docket.clock.now()
    starts: list[datetime] = []

    async def hourly(perpetual: Perpetual = Perpetual(every=HOUR)) -> None:
        starts.append(docket.clock.now())

    await docket.add(hourly, key="hourly")()
    runs = await advance(docket, timedelta(days=365), max_runs=10)

    assert len(runs) == len(starts) == 365 * 24 + 1
    assert starts == [start + i * HOUR for i in range(365 * 24 + 1)]
    await assert_scheduled(docket, hourly, key="hourly", when=start + timedelta(days=365) + HOUR)
