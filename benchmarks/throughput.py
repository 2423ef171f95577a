"""Throughput of docket on the memory twin and on Redis, beside the raw Redis ceiling.

Measures, for each engine:
  * enqueue rate: sequential ``await docket.add(noop)()`` calls;
  * processing rate of one worker at concurrency 10 for no-op tasks;
  * processing rate at concurrency 10 for tasks that sleep 10 ms (ideal 1,000/s);
  each at the worker's defaults, and again with prefetch turned off;
  * Redis round trips per ``add`` and per executed task.
and, in the same run, the raw ceiling of one asyncio redis-py client: pipelined
XADD, XREADGROUP COUNT 100 and one bulk XACK per batch; and the event loop's own
ceiling for the 10 ms case: ten bare asyncio tasks sleeping 10 ms in lockstep.
For the 10 ms case it also reports the span per wave: the loop's time not spent
waiting for a timer (its work, and its waits for Redis replies).  At 10 ms per
wave that span, not dead time, sets the rate; loop_rounding.py shows the rate
any asyncio program reaches for a given span on this CPython.

It runs on ``docket.cli.event_loop``, the loop ``docket worker --loop asyncio``
runs on, or with ``--loop asyncio`` on asyncio's own, which rounds every timer
wait up to whole milliseconds and some by a whole extra one (see
docket/cli/event_loop.py), or with ``--loop uvloop`` on uvloop's.

Usage:  python benchmarks/throughput.py [--tasks 20000] [--sleep-tasks 3000] [--redis-url URL]
                                       [--loop docket|asyncio|uvloop]
Without --redis-url a throwaway redis-server is started (see conformance/redis_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis  # noqa: E402
from redis.asyncio.connection import Connection  # noqa: E402

from conformance.redis_server import start_redis_server  # noqa: E402
from docket import Docket, Worker  # noqa: E402
from docket.cli import event_loop  # noqa: E402
from docket.cli.loops import loop_factory  # noqa: E402


class RoundTrips:
    """Counts client writes to Redis: one per command or per pipeline, i.e. round trips."""

    count = 0
    _original = Connection.send_packed_command

    @classmethod
    def install(cls) -> None:
        original = cls._original

        async def counting(self: Connection, command: Any, check_health: bool = True) -> None:
            cls.count += 1
            await original(self, command, check_health)

        Connection.send_packed_command = counting  # type: ignore[method-assign]


async def noop() -> None:
    return None


async def sleep_10ms() -> None:
    await asyncio.sleep(0.01)


@dataclass
class Figures:
    engine: str
    enqueue_per_s: float
    noop_per_s: float
    sleep_per_s: float
    span_per_wave_ms: float
    trips_per_add: float | None
    trips_per_task: float | None


async def timed_waves(action: Callable[[], Awaitable[None]], waves: int) -> tuple[float, float]:
    """Seconds ``action`` took, and its span per wave in ms.

    The span is the loop's time not spent in a wait that ended on a timer:
    its own work plus its waits for Redis replies.  loop_rounding.py gives the
    rate any asyncio program gets with that much per 10 ms wave.
    """
    # The selector is the loop's private attribute; a benchmark may look.
    # uvloop has none to look at: its span is not measured.
    selector = getattr(asyncio.get_running_loop(), "_selector", None)
    if selector is None:
        return await timed(action), float("nan")
    original = selector.select
    timer_waits = 0.0

    def select(timeout: float | None = None) -> Any:
        nonlocal timer_waits
        started = time.perf_counter()
        events = original(timeout)
        if not events:
            timer_waits += time.perf_counter() - started
        return events

    selector.select = select
    try:
        seconds = await timed(action)
    finally:
        selector.select = original
    return seconds, (seconds - timer_waits) / waves * 1000


async def timed(action: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


async def measure_engine(
    label: str, url: str, tasks: int, sleep_tasks: int, prefetch: int | None = None
) -> Figures:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    async with Docket(name=name, url=url) as docket:
        docket.register(noop)
        docket.register(sleep_10ms)

        async def enqueue(count: int, function: Callable[[], Awaitable[None]]) -> None:
            for _ in range(count):
                await docket.add(function)()

        trips_before = RoundTrips.count
        enqueue_seconds = await timed(lambda: enqueue(tasks, noop))
        trips_per_add = (RoundTrips.count - trips_before) / tasks

        async with Worker(docket, concurrency=10, prefetch=prefetch) as worker:
            trips_before = RoundTrips.count
            noop_seconds = await timed(worker.run_until_finished)
            trips_per_task = (RoundTrips.count - trips_before) / tasks

            await enqueue(sleep_tasks, sleep_10ms)
            sleep_seconds, span_ms = await timed_waves(worker.run_until_finished, sleep_tasks // 10)

    is_redis = not url.startswith("memory://")
    return Figures(
        engine=label,
        enqueue_per_s=tasks / enqueue_seconds,
        noop_per_s=tasks / noop_seconds,
        sleep_per_s=sleep_tasks / sleep_seconds,
        span_per_wave_ms=span_ms,
        trips_per_add=trips_per_add if is_redis else None,
        trips_per_task=trips_per_task if is_redis else None,
    )


async def loop_ceiling(tasks: int) -> float:
    """10 ms sleeps/s of ten bare asyncio tasks in lockstep: the event loop's own ceiling."""
    remaining = tasks

    async def sleeper() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await asyncio.sleep(0.01)

    started = time.perf_counter()
    await asyncio.gather(*(sleeper() for _ in range(10)))
    return tasks / (time.perf_counter() - started)


async def redis_ceiling(url: str, messages: int) -> float:
    """Messages/s for pipelined XADD, XREADGROUP COUNT 100 and bulk XACK from one client."""
    client = aioredis.Redis.from_url(url)
    stream = f"ceiling-{uuid.uuid4().hex[:8]}"
    try:
        await client.xgroup_create(stream, "g", id="0", mkstream=True)
        started = time.perf_counter()
        for offset in range(0, messages, 100):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(100, messages - offset)):
                pipe.xadd(stream, {"k": "v"})
            await pipe.execute()
        done = 0
        while done < messages:
            reply = await client.xreadgroup("g", "c", {stream: ">"}, count=100)
            ids = [entry_id for _, entries in reply for entry_id, _ in entries]
            if not ids:
                break
            await client.xack(stream, "g", *ids)
            done += len(ids)
        return messages / (time.perf_counter() - started)
    finally:
        await client.delete(stream)
        await client.aclose()


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--sleep-tasks", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=3, help="repeat and report the median")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument(
        "--loop",
        choices=("docket", "asyncio", "uvloop"),
        default="docket",
        help="docket.cli.event_loop (default), asyncio's own, or uvloop's (pydocket[uvloop])",
    )
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:

    RoundTrips.install()
    server = None
    url = args.redis_url
    if url is None:
        server = start_redis_server()
        url = server.url
    try:
        rows: dict[str, list[Figures]] = {}
        ceilings: list[float] = []
        loop_ceilings: list[float] = []
        for _ in range(args.runs):
            # The default (automatic prefetch), then prefetch turned off.
            for prefetch in (None, 0):
                suffix = "" if prefetch is None else f", prefetch={prefetch}"
                memory_url = f"memory://bench-{uuid.uuid4().hex[:6]}"
                rows.setdefault(f"memory{suffix}", []).append(
                    await measure_engine(
                        "memory", memory_url, args.tasks, args.sleep_tasks, prefetch
                    )
                )
                rows.setdefault(f"redis{suffix}", []).append(
                    await measure_engine("redis", url, args.tasks, args.sleep_tasks, prefetch)
                )
            ceilings.append(await redis_ceiling(url, args.tasks))
            loop_ceilings.append(await loop_ceiling(args.sleep_tasks))
    finally:
        if server is not None:
            server.stop()

    def median(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    print(
        f"docket throughput, median of {args.runs} runs, {args.tasks} no-op tasks, "
        f"{args.sleep_tasks} 10 ms tasks, one worker at concurrency 10, "
        f"on the {args.loop} event loop"
    )
    print()
    print(
        "| engine | enqueue/s | no-op tasks/s | 10 ms tasks/s | span per 10 ms wave "
        "| round trips per add | per task |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, figures in rows.items():
        print(
            f"| {label} | {fmt(median([f.enqueue_per_s for f in figures]))} "
            f"| {fmt(median([f.noop_per_s for f in figures]))} "
            f"| {fmt(median([f.sleep_per_s for f in figures]))} "
            f"| {fmt(median([f.span_per_wave_ms for f in figures]), 2)} ms "
            f"| {fmt(median([f.trips_per_add for f in figures]), 2)} "
            f"| {fmt(median([f.trips_per_task for f in figures]), 2)} |"
        )
    print(
        f"| raw Redis ceiling (XADD+XREADGROUP+XACK, pipelined) | | {fmt(median(ceilings))} | | | | |"
    )
    print(
        f"| bare asyncio loop, ten tasks sleeping 10 ms | | | {fmt(median(loop_ceilings))} | | | |"
    )


if __name__ == "__main__":
    arguments = parse_arguments()
    if arguments.loop == "docket":
        event_loop.run(main(arguments))
    elif arguments.loop == "uvloop":
        with asyncio.Runner(loop_factory=loop_factory("uvloop")) as runner:
            runner.run(main(arguments))
    else:
        asyncio.run(main(arguments))
