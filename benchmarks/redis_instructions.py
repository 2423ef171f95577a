"""Instructions redis-server executes per ``add`` and per executed task, counted by callgrind.

Redis CPU per task measured in seconds moves with whatever else the machine
runs; an instruction count does not.  This runs a throwaway ``redis-server``
under ``valgrind --tool=callgrind`` and reads its counters with
``callgrind_control`` around each phase:

  * add: N sequential ``await docket.add(noop)()``;
  * run: one worker at concurrency 10 draining those N no-op tasks
    (worker start and stop included: heartbeat, group check, retire).

Under valgrind Redis runs some 50 times slower, so batches may fill
differently from a real run; compare commits with this, and report seconds
with redis_cpu.py.  ``--profile DIR`` keeps callgrind's dumps for
``callgrind_annotate --inclusive=yes --tree=calling``.

Usage:  python benchmarks/redis_instructions.py [--tasks 3000] [--profile DIR]
Needs valgrind (with callgrind_control) and redis-server on PATH.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

from conformance.redis_server import free_port  # noqa: E402
from docket import Docket, Worker  # noqa: E402
from docket.cli import event_loop  # noqa: E402


async def noop() -> None:
    return None


class CallgrindRedis:
    """A redis-server under callgrind, whose instruction count can be read phase by phase."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={directory}/callgrind.%p",
                "redis-server",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis.from_url(self.url)
        for _ in range(600):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        client.close()
        self.dumps = 0

    def instructions_since_last(self, label: str) -> int:
        """Instructions executed since the previous call (each call dumps and zeroes)."""
        subprocess.run(
            ["callgrind_control", f"--dump={label}", str(self.process.pid)],
            check=True,
            capture_output=True,
        )
        self.dumps += 1
        dump = self.directory / f"callgrind.{self.process.pid}.{self.dumps}"
        for _ in range(100):
            if dump.exists() and "totals:" in dump.read_text(errors="replace"):
                break
            time.sleep(0.05)
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
        raise RuntimeError(f"callgrind wrote no totals to {dump}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


async def measure(server: CallgrindRedis, tasks: int) -> tuple[float, float]:
    """Instructions per add and per executed task."""
    async with Docket(name=f"bench-{uuid.uuid4().hex[:8]}", url=server.url) as docket:
        docket.register(noop)
        # Warm up: scripts loaded, the group made, the keys allocated once.
        for _ in range(200):
            await docket.add(noop)()
        async with Worker(docket, concurrency=10) as worker:
            await worker.run_until_finished()
        server.instructions_since_last("warm-up")
        for _ in range(tasks):
            await docket.add(noop)()
        added = server.instructions_since_last("add")
        async with Worker(docket, concurrency=10) as worker:
            await worker.run_until_finished()
        ran = server.instructions_since_last("run")
    return added / tasks, ran / tasks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=3_000)
    parser.add_argument("--profile", type=Path, default=None, help="keep the dumps here")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("redis_instructions.py needs valgrind and callgrind_control on PATH")
    directory = args.profile or Path(tempfile.mkdtemp(prefix="docket-callgrind-"))
    directory.mkdir(parents=True, exist_ok=True)
    server = CallgrindRedis(directory)
    try:
        per_add, per_task = event_loop.run(measure(server, args.tasks))
    finally:
        server.stop()
        if args.profile is None:
            shutil.rmtree(directory, ignore_errors=True)
    print(f"redis-server instructions, {args.tasks} no-op tasks, one worker at concurrency 10")
    print()
    print("| per add | per executed task |")
    print("|---|---|")
    print(f"| {per_add / 1000:,.1f}k | {per_task / 1000:,.1f}k |")


if __name__ == "__main__":
    main()
