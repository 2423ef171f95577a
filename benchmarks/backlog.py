"""A million scheduled tasks: does a large backlog of future work make each task dearer?

For each backlog size (1,000 and 1,000,000 by default), on a freshly flushed
throwaway redis-server, median of --runs:
  * fill: ``add_many`` of that many no-op tasks due a day or two ahead, in
    chunks; Redis memory per scheduled task (INFO used_memory delta / count);
  * add: --adds sequential ``await docket.add(noop, when=...)()`` of more
    future tasks: adds/s and Redis CPU µs per add;
  * run: --due no-op tasks added due 2 s ahead (so they pass through the
    schedule, beside the backlog); once due, one worker at its defaults claims
    and runs them: tasks/s and Redis CPU µs per task.
Target: the same cost per task with 1,000,000 as with 1,000.

With --pydocket-python (a Python with pydocket 0.27.2 installed, e.g. made by
``python3 -m venv /tmp/pydocket-venv && /tmp/pydocket-venv/bin/pip install
pydocket==0.27.2``) the same no-op task is scheduled --memory-tasks times a day
ahead with pydocket's ``docket.add(fn, when=...)()`` on a second throwaway
server, and its Redis memory per scheduled task is reported beside docket's
for the same count.  Without it that row is skipped with a message.

Usage:  python benchmarks/backlog.py [--backlogs 1000,1000000] [--adds 5000] [--due 20000]
                                     [--runs 3] [--memory-tasks 100000]
                                     [--pydocket-python /tmp/pydocket-venv/bin/python] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from measure import CpuMeter, fmt, median, start_redis_server, used_memory

from docket import Docket, Worker
from docket.cli import event_loop

DAY = timedelta(days=1)


class Counter:
    """Counts runs of ``counted`` and wakes the waiter when ``target`` is reached."""

    done = 0
    target = 0
    reached: asyncio.Event | None = None


async def counted() -> None:
    """A no-op task that counts itself."""
    Counter.done += 1
    if Counter.done >= Counter.target and Counter.reached is not None:
        Counter.reached.set()


def future(now: datetime) -> datetime:
    """A due time between one and two days after ``now``."""
    return now + DAY + timedelta(seconds=random.uniform(0, 86_400))


async def fill(docket: Docket, count: int, chunk: int = 10_000) -> None:
    """Schedule ``count`` future no-op tasks with add_many, ``chunk`` calls at a time."""
    for offset in range(0, count, chunk):
        now = docket.clock.now()
        calls = [
            docket.call(counted, when=future(now))() for _ in range(min(chunk, count - offset))
        ]
        await docket.add_many(calls)


@dataclass
class Figures:
    """Every run's figures for one backlog size."""

    bytes_per_task: list[float] = field(default_factory=list)
    fill_per_s: list[float] = field(default_factory=list)
    add_per_s: list[float] = field(default_factory=list)
    add_redis_us: list[float] = field(default_factory=list)
    run_per_s: list[float] = field(default_factory=list)
    run_redis_us: list[float] = field(default_factory=list)


async def one_backlog(url: str, backlog: int, args: argparse.Namespace, figures: Figures) -> None:
    meter = CpuMeter(url)
    try:
        meter.client.flushall()
        before = used_memory(meter.client)
        async with Docket(name=f"backlog-{uuid.uuid4().hex[:8]}", url=url) as docket:
            docket.register(counted)
            started = time.perf_counter()
            await fill(docket, backlog)
            figures.fill_per_s.append(backlog / (time.perf_counter() - started))
            figures.bytes_per_task.append((used_memory(meter.client) - before) / backlog)

            meter.start()
            for _ in range(args.adds):
                await docket.add(counted, when=future(docket.clock.now()))()
            rate, redis_us, _ = meter.stop().per(args.adds)
            figures.add_per_s.append(rate)
            figures.add_redis_us.append(redis_us)

            due = docket.clock.now() + timedelta(seconds=2)
            await docket.add_many(docket.call(counted, when=due)() for _ in range(args.due))
            await asyncio.sleep(max(0.0, (due - docket.clock.now()).total_seconds()))
            Counter.done, Counter.target, Counter.reached = 0, args.due, asyncio.Event()
            async with Worker(docket) as worker:
                meter.start()
                running = asyncio.create_task(worker.run_forever())
                await Counter.reached.wait()
                rate, redis_us, _ = meter.stop().per(args.due)
                worker.stop()
                await running
            figures.run_per_s.append(rate)
            figures.run_redis_us.append(redis_us)
    finally:
        meter.close()


PYDOCKET_SCRIPT = """
import asyncio, random, sys
from datetime import datetime, timedelta, timezone
import redis
from docket import Docket

async def counted() -> None:
    return None

async def main(url: str, count: int) -> None:
    client = redis.Redis.from_url(url)
    client.flushall()
    before = int(client.info("memory")["used_memory"])
    async with Docket(name="pydocket-backlog", url=url) as docket:
        docket.register(counted)
        now = datetime.now(timezone.utc)
        for offset in range(0, count, 100):
            await asyncio.gather(*(
                docket.add(counted, when=now + timedelta(days=1, seconds=random.uniform(0, 86400)))()
                for _ in range(min(100, count - offset))
            ))
    print(int(client.info("memory")["used_memory"]) - before)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def pydocket_bytes(python: str, url: str, count: int) -> float:
    """Redis bytes per task pydocket uses for ``count`` scheduled no-op tasks."""
    # -I and a neutral cwd, so that this repository's docket is not the one imported.
    completed = subprocess.run(
        [python, "-I", "-c", PYDOCKET_SCRIPT, url, str(count)],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    return int(completed.stdout.strip().splitlines()[-1]) / count


async def docket_bytes(url: str, count: int) -> float:
    """Redis bytes per task docket uses for ``count`` scheduled no-op tasks."""
    meter = CpuMeter(url)
    try:
        meter.client.flushall()
        before = used_memory(meter.client)
        async with Docket(name=f"memory-{uuid.uuid4().hex[:8]}", url=url) as docket:
            docket.register(counted)
            await fill(docket, count)
            return (used_memory(meter.client) - before) / count
    finally:
        meter.close()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlogs", default="1000,1000000")
    parser.add_argument("--adds", type=int, default=5_000, help="sequential adds measured")
    parser.add_argument("--due", type=int, default=20_000, help="due tasks claimed and run")
    parser.add_argument("--runs", type=int, default=3, help="repeat and report the median")
    parser.add_argument("--memory-tasks", type=int, default=100_000)
    parser.add_argument("--pydocket-python", default=None)
    parser.add_argument("--quick", action="store_true", help="1,000 and 50,000, small phases")
    args = parser.parse_args()
    if args.quick:
        args.backlogs, args.adds, args.due, args.runs = "1000,50000", 1000, 2000, 1
        args.memory_tasks = 10_000
    return args


async def main(args: argparse.Namespace) -> None:
    backlogs = [int(b) for b in args.backlogs.split(",")]
    results: dict[int, Figures] = {}
    # With any extra_args a server of our own is started even when
    # DOCKET_TEST_REDIS_URL is set: this benchmark flushes it.
    server = start_redis_server(extra_args=["--maxmemory", "0"])
    try:
        for _ in range(args.runs):
            for backlog in backlogs:
                await one_backlog(server.url, backlog, args, results.setdefault(backlog, Figures()))
        docket_memory = await docket_bytes(server.url, args.memory_tasks)
    finally:
        server.stop()
    pydocket_memory: float | None = None
    skipped = None
    if args.pydocket_python is None:
        skipped = "pydocket 0.27.2 memory skipped: pass --pydocket-python PATH"
    else:
        other = start_redis_server(extra_args=["--maxmemory", "0"])
        try:
            pydocket_memory = await asyncio.to_thread(
                pydocket_bytes, args.pydocket_python, other.url, args.memory_tasks
            )
        except subprocess.CalledProcessError as error:
            skipped = f"pydocket part failed: {error.stderr.strip().splitlines()[-1:]}"
        finally:
            other.stop()

    print(
        f"Backlog of future tasks on Redis, median of {args.runs} runs: {args.adds:,} sequential "
        f"future adds, {args.due:,} due no-op tasks run by one worker at its defaults"
    )
    print()
    print(
        "| backlog | fill adds/s (add_many) | Redis bytes per scheduled task | sequential adds/s "
        "| Redis CPU µs per add | due tasks run/s | Redis CPU µs per task run |"
    )
    print("|---|---|---|---|---|---|---|")
    for backlog, f in results.items():
        print(
            f"| {backlog:,} | {fmt(median(f.fill_per_s))} | {fmt(median(f.bytes_per_task))} "
            f"| {fmt(median(f.add_per_s))} | {fmt(median(f.add_redis_us), 1)} "
            f"| {fmt(median(f.run_per_s))} | {fmt(median(f.run_redis_us), 1)} |"
        )
    print(f"| docket, {args.memory_tasks:,} scheduled | | {fmt(docket_memory)} | | | | |")
    print(
        f"| pydocket 0.27.2, {args.memory_tasks:,} scheduled | | {fmt(pydocket_memory)} | | | | |"
    )
    if skipped:
        print()
        print(skipped)


if __name__ == "__main__":
    event_loop.run(main(parse_arguments()))
