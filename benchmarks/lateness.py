"""Lateness of future work: how long after its due time each scheduled task starts.

For each size (1,000, 10,000, 100,000 no-op tasks by default) the benchmark
schedules the tasks with ``add_many``, each due at ``start + lead +
uniform(0, window)`` (10 s windows for up to 10,000, 30 s for more, so the
due rate stays well under the no-op rate), then runs one worker at its
defaults until finished.  Each task records ``docket.clock.now() -
execution.when`` as it starts.  The table gives p50, p99 and max in ms,
the median of --runs, on the memory twin and on Redis (target: p99 under
20 ms at every size).

The producer runs in the same process as the worker: before the worker
starts, its calls are dropped and ``gc.freeze()`` keeps what remains out of
the cyclic collector's full passes, whose pauses over 100,000 calls would be
this script's, not a worker process's.

``lead`` leaves time to add every task before the first is due: 1 s plus
twice the time adding them should take at the add_many rate measured on the
same engine just before (2,000 calls).  The table's "add s" column says how
long adding took, and a run whose adding overran its lead is flagged.

With ``--netem`` (the default when run as root) redis-server also runs in a
network namespace behind a veth pair with ``tc netem delay 1ms`` on each end
(2 ms round trip), and the same figures plus the no-op rate over that link
are reported.  Where the namespace or netem cannot be made (no root, or a
kernel without the netem qdisc) that part is skipped with a message.
``--netem-delay-ms 0`` builds the namespace without netem (a check of the
plumbing).

Usage:  python benchmarks/lateness.py [--sizes 1000,10000,100000] [--runs 3]
                                      [--netem | --no-netem] [--netem-delay-ms 1]
                                      [--quick] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from measure import fmt, median, noop, percentile, start_redis_server

from docket import CurrentDocket, CurrentExecution, Docket, Execution, Worker
from docket.cli import event_loop

LATENESS: list[float] = []


async def late(docket: Docket = CurrentDocket(), execution: Execution = CurrentExecution()) -> None:
    """Record how late this run started, in seconds, by the docket's clock."""
    LATENESS.append((docket.clock.now() - execution.when).total_seconds())


def window_for(size: int, quick: bool) -> float:
    if quick:
        return 3.0
    return 10.0 if size <= 10_000 else 30.0


@dataclass
class Figures:
    """Each run's p50, p99 and max lateness in ms, and how long adding took."""

    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    worst: list[float] = field(default_factory=list)
    add_seconds: list[float] = field(default_factory=list)
    overran: int = 0


async def add_many_rate(docket: Docket, count: int = 2_000) -> float:
    """add_many calls/s on this engine, for far-future calls that are then cleared."""
    far = docket.clock.now() + timedelta(days=1)
    started = time.perf_counter()
    await docket.add_many([docket.call(late, when=far)() for _ in range(count)])
    rate = count / (time.perf_counter() - started)
    await docket.clear()
    return rate


async def one_size(url: str, size: int, window: float, figures: Figures) -> None:
    async with Docket(name=f"late-{uuid.uuid4().hex[:8]}", url=url) as docket:
        docket.register(late)
        lead = 1.0 + 2 * size / await add_many_rate(docket)
        LATENESS.clear()
        started = time.perf_counter()
        base = docket.clock.now() + timedelta(seconds=lead)
        calls = [
            docket.call(late, when=base + timedelta(seconds=random.uniform(0, window)))()
            for _ in range(size)
        ]
        await docket.add_many(calls)
        add_seconds = time.perf_counter() - started
        # A worker process would not hold the producer's calls: drop them, and
        # keep what is left from here on out of the cyclic collector's full
        # passes, whose pauses (over 100,000 calls) are this script's, not
        # the worker's.
        del calls
        gc.collect()
        gc.freeze()
        async with Worker(docket) as worker:
            await worker.run_until_finished()
        gc.unfreeze()
    if len(LATENESS) != size:
        raise RuntimeError(f"{len(LATENESS)} of {size} tasks ran")
    ordered = sorted(LATENESS)
    figures.p50.append(percentile(ordered, 0.50) * 1000)
    figures.p99.append(percentile(ordered, 0.99) * 1000)
    figures.worst.append(ordered[-1] * 1000)
    figures.add_seconds.append(add_seconds)
    figures.overran += add_seconds > lead


async def noop_rate(url: str, count: int) -> float:
    """No-op tasks/s of one worker at its defaults, with ``count`` already queued."""
    async with Docket(name=f"rate-{uuid.uuid4().hex[:8]}", url=url) as docket:
        docket.register(noop)
        await docket.add_many([docket.call(noop)() for _ in range(count)])
        async with Worker(docket) as worker:
            started = time.perf_counter()
            await worker.run_until_finished()
            return count / (time.perf_counter() - started)


def ip(*command: str) -> None:
    subprocess.run(["ip", *command], check=True, capture_output=True, text=True)


@contextmanager
def netem_server(delay_ms: float) -> Iterator[str]:
    """A redis-server in a fresh network namespace behind a veth pair delayed ``delay_ms``
    each way; yields its URL.  Everything made is removed on the way out."""
    tag = f"{os.getpid() % 100000}"
    namespace, host, peer = f"dktlat{tag}", f"dkh{tag}", f"dkp{tag}"
    host_address, server_address = "10.253.77.1", "10.253.77.2"
    directory = tempfile.TemporaryDirectory(prefix="docket-netem-")
    server: subprocess.Popen[bytes] | None = None
    made_namespace = made_link = False
    try:
        ip("netns", "add", namespace)
        made_namespace = True
        ip("link", "add", host, "type", "veth", "peer", "name", peer)
        made_link = True
        ip("link", "set", peer, "netns", namespace)
        ip("addr", "add", f"{host_address}/30", "dev", host)
        ip("link", "set", host, "up")
        inside = ("netns", "exec", namespace)
        ip(*inside, "ip", "addr", "add", f"{server_address}/30", "dev", peer)
        ip(*inside, "ip", "link", "set", peer, "up")
        ip(*inside, "ip", "link", "set", "lo", "up")
        if delay_ms > 0:
            delay = f"{delay_ms}ms"
            for prefix, device in (((), host), (inside, peer)):
                subprocess.run(
                    [*(("ip", *prefix) if prefix else ()), "tc", "qdisc", "add", "dev", device]
                    + ["root", "netem", "delay", delay],
                    check=True,
                    capture_output=True,
                    text=True,
                )
        binary = shutil.which("redis-server") or "redis-server"
        server = subprocess.Popen(
            ["ip", *inside, binary, "--port", "6379", "--bind", server_address]
            + [
                "--protected-mode",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(host=server_address, port=6379)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server in the namespace did not answer") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://{server_address}:6379/0"
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            server.wait(timeout=10)
        if made_link:
            subprocess.run(["ip", "link", "del", host], capture_output=True)
        if made_namespace:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        directory.cleanup()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3, help="repeat and report the median")
    parser.add_argument(
        "--netem",
        action=argparse.BooleanOptionalAction,
        default=os.geteuid() == 0,
        help="also measure over a 2 ms round trip (default: when root)",
    )
    parser.add_argument("--netem-delay-ms", type=float, default=1.0, help="delay each way")
    parser.add_argument("--rate-tasks", type=int, default=5_000, help="no-op tasks for the rate")
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 tasks, 3 s, 1 run")
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    if args.quick:
        if args.sizes == parser.get_default("sizes"):
            args.sizes = "1000,5000"
        args.runs, args.rate_tasks = 1, 1000
    return args


async def measure_targets(
    targets: dict[str, str], sizes: list[int], args: argparse.Namespace
) -> dict[tuple[str, int], Figures]:
    results: dict[tuple[str, int], Figures] = {}
    for _ in range(args.runs):
        for label, url in targets.items():
            for size in sizes:
                figures = results.setdefault((label, size), Figures())
                await one_size(url, size, window_for(size, args.quick), figures)
    return results


async def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    server = None
    url = args.redis_url
    if url is None:
        server = start_redis_server()
        url = server.url
    rates: dict[str, float] = {}
    try:
        targets = {"memory": f"memory://late-{uuid.uuid4().hex[:6]}", "redis": url}
        results = await measure_targets(targets, sizes, args)
        # The same rate on loopback, beside the one over the delayed link.
        rates["redis"] = median(
            [await noop_rate(url, args.rate_tasks) for _ in range(args.runs)]
        ) or float("nan")
    finally:
        if server is not None:
            server.stop()

    skipped = None
    if args.netem:
        label = (
            f"redis, {2 * args.netem_delay_ms:g} ms RTT (netem)"
            if args.netem_delay_ms > 0
            else "redis in a namespace, no netem"
        )
        try:
            with netem_server(args.netem_delay_ms) as netem_url:
                results.update(await measure_targets({label: netem_url}, sizes, args))
                rates[label] = median(
                    [await noop_rate(netem_url, args.rate_tasks) for _ in range(args.runs)]
                ) or float("nan")
        except (subprocess.CalledProcessError, FileNotFoundError, RuntimeError) as error:
            detail = getattr(error, "stderr", None) or str(error)
            skipped = f"netem part skipped: {' '.join(str(detail).split())}"

    print(
        f"Lateness (start - when) of scheduled no-op tasks, one worker at its defaults, "
        f"median of {args.runs} runs"
    )
    print()
    print("| engine | tasks | window | p50 ms | p99 ms | max ms | add s | no-op tasks/s |")
    print("|---|---|---|---|---|---|---|---|")
    for (label, size), figures in results.items():
        flag = f" ({figures.overran} run(s) overran the lead)" if figures.overran else ""
        rate = rates.get(label)
        print(
            f"| {label} | {size:,} | {window_for(size, args.quick):g} s "
            f"| {fmt(median(figures.p50), 2)} | {fmt(median(figures.p99), 2)} "
            f"| {fmt(median(figures.worst), 2)} | {fmt(median(figures.add_seconds), 2)}{flag} "
            f"| {fmt(rate) if rate is not None and size == sizes[-1] else ''} |"
        )
    if skipped:
        print()
        print(skipped)
    elif not args.netem:
        print()
        print("netem part not run (--no-netem given, or not root)")


if __name__ == "__main__":
    event_loop.run(main(parse_arguments()))
