"""Redis CPU per task: what each add and each executed no-op task costs the shared Redis.

Phases, each on a fresh docket on one throwaway redis-server, each the median of --runs:
  * add: N sequential ``await docket.add(noop)()`` with no worker running:
    adds/s, Redis CPU µs per add, client CPU µs per add (this process);
  * raw XADD: N sequential single ``XADD`` from one redis-py asyncio client, and
    the ratio of the sequential add rate to it (target at least 0.6);
  * batched add: ``docket.add_many`` of N ``docket.call(noop)()`` in chunks of
    --chunk (target at least 30,000 adds/s);
  * run, W = 1, 2, 4 worker processes: N no-op tasks already queued, each
    process runs ``Worker(concurrency=10).run_until_finished()`` on
    ``docket.cli.event_loop``; total tasks/s, Redis CPU µs per task (target at
    most 25) and worker CPU µs per task (the sum of the processes' own CPU,
    counted from the start signal, so their imports are not in it); for one
    process, how much of Redis's time went to scripts and how much of that to
    the commands they call (INFO commandstats);
  * the raw Redis ceiling of throughput.py (pipelined XADD, XREADGROUP COUNT
    100, bulk XACK) with its Redis CPU per message;
  * with --pydocket-python (a Python with pydocket 0.27.2 installed, e.g.
    ``python3 -m venv /tmp/pydocket-venv && /tmp/pydocket-venv/bin/pip install
    pydocket==0.27.2``), --pydocket-tasks sequential adds and one worker
    process at concurrency 10 draining them, run by pydocket in a child
    process, twice: at its defaults, and with ``minimum_check_interval`` at
    1 ms (at its default of 250 ms its worker waits that long between reads
    of a backlog): the figures its users see today, on the same Redis.

Redis CPU comes from INFO cpu deltas on a separate connection (see measure.py).

Usage:  python benchmarks/redis_cpu.py [--tasks 20000] [--runs 3] [--chunk 1000]
                                       [--workers 1,2,4] [--quick] [--redis-url URL]
                                       [--pydocket-python /tmp/pydocket-venv/bin/python]
                                       [--pydocket-tasks 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis
from measure import CpuMeter, CpuSpan, fmt, median, noop, start_redis_server
from throughput import redis_ceiling

from docket import Docket, Worker
from docket.cli import event_loop

HERE = Path(__file__).resolve().parent


@dataclass
class Row:
    """One table row's figures from every run."""

    rate: list[float] = field(default_factory=list)
    redis_us: list[float] = field(default_factory=list)
    own_us: list[float] = field(default_factory=list)

    def record(self, span: CpuSpan, count: int, own_seconds: float | None = None) -> None:
        rate, redis_us, client_us = span.per(count)
        self.rate.append(rate)
        self.redis_us.append(redis_us)
        self.own_us.append(client_us if own_seconds is None else own_seconds / count * 1e6)


async def sequential_adds(docket: Docket, count: int) -> None:
    for _ in range(count):
        await docket.add(noop)()


async def batched_adds(docket: Docket, count: int, chunk: int) -> None:
    for offset in range(0, count, chunk):
        calls = [docket.call(noop)() for _ in range(min(chunk, count - offset))]
        await docket.add_many(calls, chunk_size=chunk)


async def raw_xadds(url: str, count: int) -> None:
    client = aioredis.Redis.from_url(url)
    stream = f"raw-{uuid.uuid4().hex[:8]}"
    try:
        for _ in range(count):
            await client.xadd(stream, {"k": "v"})
    finally:
        await client.delete(stream)
        await client.aclose()


def run_workers(url: str, name: str, processes: int, meter: CpuMeter) -> tuple[CpuSpan, float]:
    """Run ``processes`` worker processes until the docket is drained.

    Returns the span (wall from the start signal until every process reported)
    and the worker processes' CPU seconds over their runs.
    """
    children = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__)), "--worker-process", url, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("a worker process did not start")
        meter.start()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        worker_cpu = 0.0
        for child in children:
            assert child.stdout is not None
            worker_cpu += float(child.stdout.readline())
        span = meter.stop()
        for child in children:
            child.wait(timeout=60)
        return span, worker_cpu
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


async def worker_process(url: str, name: str) -> None:
    """The body of one worker process: connect, wait for "go", drain, print its CPU seconds."""
    async with Docket(name=name, url=url) as docket:
        docket.register(noop)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.process_time()
        async with Worker(docket, concurrency=10) as worker:
            await worker.run_until_finished()
        print(time.process_time() - started, flush=True)


# pydocket's side, run by a Python that has it: each line read on stdin
# ("add", "run") starts a phase; each phase prints the CPU seconds it took.
PYDOCKET_SCRIPT = """
import asyncio, sys, time
from datetime import timedelta
from docket import Docket, Worker

async def noop() -> None:
    return None

async def main(url: str, name: str, count: int) -> None:
    async with Docket(name=name, url=url) as docket:
        docket.register(noop)
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        while (phase := (await loop.run_in_executor(None, sys.stdin.readline)).strip()):
            started = time.process_time()
            if phase == "add":
                for _ in range(count):
                    await docket.add(noop)()
            else:
                options = {} if phase == "run" else {"minimum_check_interval": timedelta(milliseconds=1)}
                async with Worker(docket, concurrency=10, **options) as worker:
                    await worker.run_until_finished()
            print(time.process_time() - started, flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def pydocket_phases(
    python: str, url: str, count: int, meter: CpuMeter, rows: dict[str, Row]
) -> None:
    """pydocket 0.27.2's sequential adds and one worker draining them (see PYDOCKET_SCRIPT)."""
    # -I and a neutral cwd, so that this repository's docket is not the one imported.
    child = subprocess.Popen(
        [python, "-I", "-c", PYDOCKET_SCRIPT, url, f"pydocket-{uuid.uuid4().hex[:8]}", str(count)],
        cwd="/",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the pydocket process did not start")
        phases = (
            ("add", "sequential add"),
            ("run", "run, 1 worker process, defaults"),
            ("add", "sequential add"),
            ("run-1ms", "run, 1 worker process, minimum_check_interval 1 ms"),
        )
        for phase, label in phases:
            meter.start()
            child.stdin.write(phase + "\n")
            child.stdin.flush()
            own = float(child.stdout.readline())
            rows.setdefault(f"pydocket 0.27.2: {label}", Row()).record(meter.stop(), count, own)
        child.stdin.close()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def command_usec(meter: CpuMeter) -> dict[str, int]:
    """Microseconds Redis has spent in each command so far (INFO commandstats)."""
    stats = meter.client.info("commandstats")
    return {name: int(values["usec"]) for name, values in stats.items()}


def script_split(before: dict[str, int], after: dict[str, int], count: int) -> tuple[float, float]:
    """µs per task Redis spent in EVALSHA between two ``command_usec``, and how much of
    it in the commands the scripts called (counted in their own rows too)."""
    spent = {name: usec - before.get(name, 0) for name, usec in after.items()}
    scripts = spent.pop("cmdstat_evalsha", 0) + spent.pop("cmdstat_eval", 0)
    called = sum(usec for name, usec in spent.items() if not name.startswith("cmdstat_info"))
    return scripts / count, called / count


async def one_run(
    url: str, args: argparse.Namespace, rows: dict[str, Row], inside: list[tuple[float, float]]
) -> None:
    meter = CpuMeter(url)
    n = args.tasks
    worker_counts = [int(w) for w in args.workers.split(",")]
    try:
        name = f"cpu-{uuid.uuid4().hex[:8]}"
        async with Docket(name=name, url=url) as docket:
            docket.register(noop)
            for index, processes in enumerate(worker_counts):
                meter.start()
                if index == 0:
                    await sequential_adds(docket, n)
                    rows.setdefault("sequential add", Row()).record(meter.stop(), n)
                elif index == 1:
                    await batched_adds(docket, n, args.chunk)
                    rows.setdefault(
                        f"batched add (add_many, chunks of {args.chunk})", Row()
                    ).record(meter.stop(), n)
                else:
                    await batched_adds(docket, n, args.chunk)
                    meter.stop()
                before = command_usec(meter)
                span, worker_cpu = await asyncio.to_thread(run_workers, url, name, processes, meter)
                if processes == 1:
                    inside.append(script_split(before, command_usec(meter), n))
                rows.setdefault(f"run, {processes} worker process(es)", Row()).record(
                    span, n, worker_cpu
                )
            if len(worker_counts) < 2:
                meter.start()
                await batched_adds(docket, n, args.chunk)
                rows.setdefault(f"batched add (add_many, chunks of {args.chunk})", Row()).record(
                    meter.stop(), n
                )
                await docket.clear()
        meter.start()
        await raw_xadds(url, n)
        rows.setdefault("raw single XADD, sequential", Row()).record(meter.stop(), n)
        meter.start()
        await redis_ceiling(url, n)
        rows.setdefault("raw Redis ceiling (XADD+XREADGROUP+XACK, pipelined)", Row()).record(
            meter.stop(), n
        )
        if args.pydocket_python:
            await asyncio.to_thread(
                pydocket_phases, args.pydocket_python, url, args.pydocket_tasks, meter, rows
            )
    finally:
        meter.close()


TARGETS = {
    "sequential add": "≥ 0.6 of raw XADD",
    "batched add": "≥ 30,000/s",
    "run": "Redis ≤ 25 µs",
}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="repeat and report the median")
    parser.add_argument("--chunk", type=int, default=1000, help="calls per add_many")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts")
    parser.add_argument("--quick", action="store_true", help="2,000 tasks, one run")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument(
        "--pydocket-python", default=None, help="a Python with pydocket 0.27.2, for its rows"
    )
    parser.add_argument(
        "--pydocket-tasks", type=int, default=2_000, help="tasks per pydocket phase"
    )
    parser.add_argument(
        "--worker-process", nargs=2, metavar=("URL", "NAME"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.runs = 2_000, 1
    return args


async def main(args: argparse.Namespace) -> None:
    server = None
    url = args.redis_url
    if url is None:
        server = start_redis_server()
        url = server.url
    rows: dict[str, Row] = {}
    inside: list[tuple[float, float]] = []
    try:
        for _ in range(args.runs):
            await one_run(url, args, rows, inside)
    finally:
        if server is not None:
            server.stop()

    raw = median(rows["raw single XADD, sequential"].rate)
    sequential = median(rows["sequential add"].rate)
    print(
        f"Redis CPU per task, median of {args.runs} runs, {args.tasks} tasks per phase, "
        "no-op tasks, workers at concurrency 10 on docket.cli.event_loop"
    )
    print()
    print("| phase | per s | Redis CPU µs each | client / worker CPU µs each | target |")
    print("|---|---|---|---|---|")
    for label, row in rows.items():
        target = next((t for prefix, t in TARGETS.items() if label.startswith(prefix)), "")
        print(
            f"| {label} | {fmt(median(row.rate))} | {fmt(median(row.redis_us), 1)} "
            f"| {fmt(median(row.own_us), 1)} | {target} |"
        )
    if raw and sequential:
        print(f"| sequential add / raw XADD | {sequential / raw:.2f} | | | ≥ 0.6 |")
    if inside:
        scripts = median([spent for spent, _ in inside])
        called = median([called for _, called in inside])
        print()
        print(
            f"Run, 1 worker process, per task: {scripts:.1f} µs of Redis time in scripts, "
            f"{called:.1f} µs of it in the commands they call; the rest, "
            f"{scripts - called:.1f} µs, is Lua and the conversions between Lua and Redis values."
        )


if __name__ == "__main__":
    arguments = parse_arguments()
    if arguments.worker_process:
        event_loop.run(worker_process(*arguments.worker_process))
    else:
        event_loop.run(main(arguments))
