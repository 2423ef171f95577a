"""How much CPU per wave costs ten asyncio tasks that sleep 10 ms, on this CPython.

Ten bare asyncio tasks sleep 10 ms in lockstep; after each wave one more task
spends a fixed amount of CPU (the part a task queue spends on its own work:
claiming, writing outcomes, starting the next runs).  No task queue is
involved.  The rate is what any asyncio program gets with that much work per
wave, so it is the ceiling for the "10 ms tasks" figure of throughput.py at
the same per-wave work.

On asyncio's own loop it is a sawtooth, not a line.  asyncio waits for its next timer with
epoll_wait, which counts whole milliseconds: the selector rounds the timeout
up with ``math.ceil(timeout * 1e3) * 1e-3``, so the loop wakes late by the
unused fraction of a millisecond, which is as long as the work was.  And for a
remaining wait between 8 and 9 ms that expression gives 0.009000000000000001 s,
which epoll's own rounding turns into 10 ms: work of 1 to 2 ms per wave costs a
whole extra millisecond.

Beside asyncio's own loop it measures docket.cli.event_loop's, which ``docket
worker --loop asyncio`` runs on: its timed waits count microseconds (``select()``
on the epoll descriptor), so the wave's work overlaps its sleeps and the rate
stays flat.

With uvloop installed (``pydocket[uvloop]``) it measures uvloop's loop too.

Usage:  python benchmarks/loop_rounding.py [--tasks 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from docket.cli import event_loop  # noqa: E402
from docket.cli.loops import loop_factory, uvloop_installed  # noqa: E402

WORK_PER_WAVE_MS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.25)


async def rate_with_work(tasks: int, work_ms: float) -> float:
    """10 ms sleeps per second of ten tasks in lockstep, with ``work_ms`` of CPU per wave."""
    remaining = tasks
    wave_ended = asyncio.Event()
    ended_in_wave = 0

    async def sleeper() -> None:
        nonlocal remaining, ended_in_wave
        while remaining > 0:
            remaining -= 1
            await asyncio.sleep(0.01)
            ended_in_wave += 1
            if ended_in_wave == 10:
                ended_in_wave = 0
                wave_ended.set()

    async def worker() -> None:
        while True:
            await wave_ended.wait()
            wave_ended.clear()
            until = time.perf_counter() + work_ms / 1000
            while time.perf_counter() < until:
                pass

    busy = asyncio.create_task(worker())
    started = time.perf_counter()
    await asyncio.gather(*(sleeper() for _ in range(10)))
    elapsed = time.perf_counter() - started
    busy.cancel()
    return tasks / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=2_000)
    args = parser.parse_args()
    print(f"9 ms as the selector computes it: {math.ceil(8.5) * 1e-3!r} s")
    print()
    uvloop_factory = loop_factory("uvloop") if uvloop_installed() else None
    uvloop_column = " 10 ms sleeps/s, uvloop |" if uvloop_factory else ""
    print(
        "| CPU per wave | 10 ms sleeps/s, asyncio's loop | 10 ms sleeps/s, docket.cli.event_loop |"
        + uvloop_column
    )
    print("|---|---|---|" + ("---|" if uvloop_factory else ""))
    for work_ms in WORK_PER_WAVE_MS:
        stock = asyncio.run(rate_with_work(args.tasks, work_ms))
        corrected = event_loop.run(rate_with_work(args.tasks, work_ms))
        row = f"| {work_ms:.2f} ms | {stock:,.0f} | {corrected:,.0f} |"
        if uvloop_factory:
            with asyncio.Runner(loop_factory=uvloop_factory) as runner:
                row += f" {runner.run(rate_with_work(args.tasks, work_ms)):,.0f} |"
        print(row)


if __name__ == "__main__":
    main()
