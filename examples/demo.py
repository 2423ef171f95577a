"""A tour of docket on the in-memory engine: immediate work, future work, results.

Run it with ``python examples/demo.py``; it needs no Redis server, because
``memory://`` is the in-process twin of the Redis engine.  Swap the URL for
``redis://localhost:6379/0`` and the same program runs on Redis.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from docket import Docket, Worker

STARTED = datetime.now(timezone.utc)


def stamp() -> str:
    """Seconds since the demo started, for the printed lines."""
    return f"+{(datetime.now(timezone.utc) - STARTED).total_seconds():.1f}s"


async def greet(name: str) -> str:
    """Immediate work: greet someone and return what was said."""
    greeting = f"Hello, {name}!"
    print(f"{stamp()}  [task] greet: {greeting}")
    return greeting


async def add_numbers(a: int, b: int) -> int:
    """Future work: add two numbers a little later."""
    print(f"{stamp()}  [task] add_numbers: {a} + {b}")
    return a + b


async def main() -> None:
    async with Docket(name="demo", url="memory://demo") as docket:
        now = await docket.add(greet)("world")
        print(f"{stamp()}  scheduled greet now (key {now.key})")

        first = await docket.add(add_numbers, when=STARTED + timedelta(seconds=1))(1, 2)
        print(f"{stamp()}  scheduled add_numbers(1, 2) for +1s (key {first.key})")

        in_two = STARTED + timedelta(seconds=2)
        second = await docket.add(add_numbers, when=in_two, key="sum-of-20-and-22")(20, 22)
        print(f"{stamp()}  scheduled add_numbers(20, 22) for +2s (key {second.key})")

        again = await docket.add(add_numbers, when=in_two, key="sum-of-20-and-22")(0, 0)
        print(f"{stamp()}  adding key {again.key!r} again: {again.disposition}")

        print(f"{stamp()}  running a worker until all of the work is done")
        async with Worker(docket) as worker:
            await worker.run_until_finished()

        for execution in (now, first, second):
            result = await execution.get_result()
            print(f"{stamp()}  {execution.function_name} {execution.key}: {result!r}")

    print(f"{stamp()}  done")


if __name__ == "__main__":
    asyncio.run(main())
