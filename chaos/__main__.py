"""``python -m chaos``: run tasks through producers and workers while Redis restarts and workers die.

    python -m chaos --tasks 2000 --producers 2 --workers 3 --poison 2

It prints ``chaos: N tasks, L lost, D duplicated, R redis restarts, K worker
kills`` and exits 1 when anything was lost, a task that was not poison was
dead-lettered, or an execution ended in the wrong state (each listed).
Duplicates are reported but allowed: delivery is at least once.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaos.cluster import ChaosCluster
from chaos.verdict import judge, runs_in
from docket import Docket


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000, help="ordinary tasks to run")
    parser.add_argument("--producers", type=int, default=2, help="producer processes")
    parser.add_argument("--workers", type=int, default=3, help="worker processes")
    parser.add_argument("--poison", type=int, default=2, help="tasks that kill their worker")
    parser.add_argument("--kill-every", type=float, default=2.0, help="seconds between kills")
    parser.add_argument("--restart-every", type=float, default=5.0, help="seconds between restarts")
    parser.add_argument("--redelivery", default="3s", help="the workers' redelivery timeout")
    parser.add_argument("--max-deliveries", type=int, default=3, help="before a dead letter")
    parser.add_argument("--deadline", type=float, default=300.0, help="give up after (seconds)")
    parser.add_argument("--seed", type=int, default=None, help="for the random chaos")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory")
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    return parser.parse_args(argv)


def start_producers(
    cluster: ChaosCluster, options: argparse.Namespace
) -> list[subprocess.Popen[bytes]]:
    share = -(-options.tasks // options.producers)
    producers = []
    for index in range(options.producers):
        first = index * share
        count = max(0, min(share, options.tasks - first))
        poisons = options.poison // options.producers + (
            1 if index < options.poison % options.producers else 0
        )
        log = (cluster.directory / f"producer-{index}.log").open("wb")
        producers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "chaos.producer",
                    cluster.url,
                    cluster.name,
                    str(first),
                    str(count),
                    str(poisons),
                ],
                env=cluster.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return producers


def poison_keys(options: argparse.Namespace) -> list[str]:
    share = -(-options.tasks // options.producers)
    keys = []
    for index in range(options.producers):
        poisons = options.poison // options.producers + (
            1 if index < options.poison % options.producers else 0
        )
        keys += [f"poison-{index * share}-{i}" for i in range(poisons)]
    return keys


def run(options: argparse.Namespace, directory: Path) -> int:
    rng = random.Random(options.seed)
    tasks = [f"task-{n}" for n in range(options.tasks)]
    poisons = poison_keys(options)
    cluster = ChaosCluster(
        options.redis_server,
        directory,
        "chaos",
        options.workers,
        options.redelivery,
        options.max_deliveries,
    )
    cluster.start_redis()
    try:
        cluster.start_workers()
        producers = start_producers(cluster, options)
        started = time.monotonic()
        next_kill = started + options.kill_every
        next_restart = started + options.restart_every
        while True:
            now = time.monotonic()
            ran = runs_in(cluster.ledger)
            if all(ran[key] for key in tasks) and all(p.poll() is not None for p in producers):
                break
            if now - started > options.deadline:
                print(f"chaos: deadline of {options.deadline:.0f}s passed", flush=True)
                break
            if now >= next_kill:
                cluster.kill_a_worker(rng)
                next_kill = now + options.kill_every * rng.uniform(0.5, 1.5)
            if now >= next_restart:
                cluster.restart_redis(down_for=rng.uniform(0.1, 0.6))
                next_restart = now + options.restart_every * rng.uniform(0.5, 1.5)
            cluster.replace_dead()
            time.sleep(0.1)
        # The chaos is over: let the workers write every outcome and the poison
        # tasks reach their dead letters.
        verdict = asyncio.run(settle_and_judge(cluster, tasks, poisons, options))
    finally:
        cluster.stop()
    duplicated = len(verdict.duplicated)
    print(
        f"chaos: {verdict.tasks} tasks, {len(verdict.lost)} lost, {duplicated} duplicated, "
        f"{cluster.redis_restarts} redis restarts, {cluster.worker_kills} worker kills",
        flush=True,
    )
    for key in verdict.lost[:20]:
        print(f"  lost: {key}")
    for key in verdict.innocent_dead_letters[:20]:
        print(f"  dead-lettered but not poison: {key}")
    for key, state in verdict.wrong_state[:20]:
        print(f"  wrong state: {key} is {state}")
    return 0 if verdict.ok else 1


async def settle_and_judge(
    cluster: ChaosCluster, tasks: list[str], poisons: list[str], options: argparse.Namespace
):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + options.deadline
    async with Docket(cluster.name, cluster.url) as docket:
        while True:
            verdict = await judge(docket, tasks, poisons, cluster.ledger)
            if verdict.ok or time.monotonic() > deadline:
                return verdict
            cluster.replace_dead()
            await asyncio.sleep(0.5)


def main(argv: list[str]) -> int:
    options = arguments(argv)
    directory = Path(tempfile.mkdtemp(prefix="docket-chaos-"))
    try:
        return run(options, directory)
    finally:
        if options.keep:
            print(f"chaos: kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
