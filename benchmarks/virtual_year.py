"""A year of an hourly perpetual task in virtual time, through docket_testing's helpers.

Measures the real time ``advance(docket, timedelta(days=365))`` takes to run an
hourly ``Perpetual`` task 8,761 times (hour 0 to hour 8,760) on a
``VirtualClock``, on the memory twin and on Redis, and the same year driven by
``Worker.run_until_finished`` skipping idle time by itself (the chain ends
after a year of runs).  Each figure is the median of ``--repeat`` runs.

Usage:  python benchmarks/virtual_year.py [--repeat 3] [--redis-url URL] [--days 365]
Without --redis-url a throwaway redis-server is started (see conformance/redis_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from docket import Perpetual, Worker  # noqa: E402
from docket_testing import advance, open_docket  # noqa: E402

HOUR = timedelta(hours=1)


async def through_advance(url: str, days: int) -> tuple[int, float]:
    """Runs and seconds for ``advance`` over ``days`` of an hourly chain."""
    runs = 0

    async def hourly(perpetual: Perpetual = Perpetual(every=HOUR)) -> None:
        nonlocal runs
        runs += 1

    async with open_docket(url) as docket:
        await docket.add(hourly, key="hourly")()
        started = time.perf_counter()
        await advance(docket, timedelta(days=days), max_runs=10)
        elapsed = time.perf_counter() - started
        await docket.cancel("hourly")
    return runs, elapsed


async def through_skipping(url: str, days: int) -> tuple[int, float]:
    """Runs and seconds for ``run_until_finished`` skipping time over the same chain."""
    runs = 0
    last = days * 24 + 1

    async def hourly(perpetual: Perpetual = Perpetual(every=HOUR)) -> None:
        nonlocal runs
        runs += 1
        if runs == last:
            perpetual.cancel()

    async with open_docket(url) as docket:
        await docket.add(hourly, key="hourly")()
        started = time.perf_counter()
        async with Worker(docket, concurrency=1) as worker:
            await worker.run_until_finished()
        elapsed = time.perf_counter() - started
    return runs, elapsed


def median_of(
    repeat: int, measure: Callable[[], Coroutine[Any, Any, tuple[int, float]]]
) -> tuple[int, float]:
    """The run count and the median seconds of ``repeat`` measurements."""
    results = [asyncio.run(measure()) for _ in range(repeat)]
    return results[0][0], statistics.median(seconds for _, seconds in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--redis-url", default=None)
    arguments = parser.parse_args()

    server = None
    redis_url = arguments.redis_url
    if redis_url is None:
        from conformance.redis_server import start_redis_server

        server = start_redis_server()
        redis_url = server.url
    try:
        for name, url in (("memory", "memory://"), ("redis", redis_url)):
            for how, measure in (("advance", through_advance), ("skipping", through_skipping)):
                runs, seconds = median_of(arguments.repeat, partial(measure, url, arguments.days))
                print(
                    f"{name:7} {how:9} {runs:6} runs  {seconds:7.2f} s  "
                    f"{seconds / runs * 1e6:7.0f} µs per run"
                )
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
