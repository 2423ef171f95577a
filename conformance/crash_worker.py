"""A worker process for the crash test, and the task it runs.

``python -m conformance.crash_worker URL NAME WORKER_NAME REDELIVERY_SECONDS``
runs a worker on docket NAME at URL until it is killed.  ``crash_task``
counts its runs in a Redis key; the first run then hangs (so the test can kill
the worker mid-task), later runs return at once.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta

import redis.asyncio as aioredis

from docket import Docket, Worker


async def crash_task(redis_url: str, counter_key: str) -> str:
    """Count this run; hang on the first, finish on any later one."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        runs = int(await client.incr(counter_key))
    finally:
        await client.aclose()
    if runs == 1:
        await asyncio.sleep(3600)
    return f"completed on run {runs}"


async def run_worker(url: str, name: str, worker_name: str, redelivery: float) -> None:
    async with Docket(name=name, url=url) as docket:
        docket.register(crash_task)
        async with Worker(
            docket, name=worker_name, redelivery_timeout=timedelta(seconds=redelivery)
        ) as worker:
            await worker.run_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    url, name, worker_name, redelivery = argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run_worker(url, name, worker_name, float(redelivery)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
