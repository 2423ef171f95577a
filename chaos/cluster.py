"""The processes of a chaos run: one private redis-server and the docket worker processes.

The server keeps an append-only file with ``appendfsync always`` (every write
acknowledged is on disk), and ``kill_redis``/``start_redis`` stop it as a crash
would and bring it back on the same port and data.  Workers are ``docket
worker`` processes; a killed one is replaced by ``replace_dead``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from chaos.tasks import LEDGER_ENV
from conformance.redis_server import answers_ping, free_port

__all__ = ["ChaosCluster"]

ROOT = Path(__file__).resolve().parent.parent


class ChaosCluster:
    """A redis-server and ``workers`` worker processes of docket ``name``, in ``directory``."""

    def __init__(
        self,
        binary: str,
        directory: Path,
        name: str,
        workers: int,
        redelivery: str,
        max_deliveries: int,
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.name = name
        self.port = free_port()
        self.redelivery = redelivery
        self.max_deliveries = max_deliveries
        self.ledger = directory / "ledger"
        self.ledger.mkdir(parents=True, exist_ok=True)
        self.redis: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers
        self.started_workers = 0
        self.redis_restarts = 0
        self.worker_kills = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env[LEDGER_ENV] = str(self.ledger)
        return {k: v for k, v in env.items() if not k.startswith("DOCKET_")}

    # -- redis ---------------------------------------------------------------------

    def start_redis(self) -> None:
        data = self.directory / "redis"
        data.mkdir(exist_ok=True)
        self.redis = subprocess.Popen(
            [
                self.binary,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(data)),
                *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not answers_ping(self.redis, self.port, seconds=15):
            raise RuntimeError(f"{self.binary} did not start on port {self.port}")

    def kill_redis(self) -> None:
        if self.redis is not None and self.redis.poll() is None:
            self.redis.send_signal(signal.SIGKILL)
            self.redis.wait()

    def restart_redis(self, down_for: float) -> None:
        self.kill_redis()
        time.sleep(down_for)
        self.start_redis()
        self.redis_restarts += 1

    # -- workers -------------------------------------------------------------------

    def _start_worker(self, slot: int) -> subprocess.Popen[bytes]:
        self.started_workers += 1
        log = (self.directory / f"worker-{slot}-{self.started_workers}.log").open("wb")
        command = [
            *(sys.executable, "-m", "docket", "worker"),
            *("--url", self.url, "--docket", self.name, "--tasks", "chaos.tasks:tasks"),
            *("--name", f"chaos-{slot}-{self.started_workers}"),
            *("--redelivery-timeout", self.redelivery, "--reconnection-delay", "200ms"),
            *("--max-deliveries", str(self.max_deliveries), "--concurrency", "10"),
            *("--logging-level", "WARNING", "--logging-format", "plain"),
        ]
        return subprocess.Popen(command, env=self.env(), stdout=log, stderr=subprocess.STDOUT)

    def start_workers(self) -> None:
        for slot in range(len(self.workers)):
            self.workers[slot] = self._start_worker(slot)

    def kill_a_worker(self, rng: random.Random) -> None:
        slot = rng.randrange(len(self.workers))
        worker = self.workers[slot]
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            self.worker_kills += 1

    def replace_dead(self) -> None:
        """Start a worker in place of each that has died (killed, or killed by a poison task)."""
        for slot, worker in enumerate(self.workers):
            if worker is None or worker.poll() is not None:
                self.workers[slot] = self._start_worker(slot)

    def stop(self) -> None:
        for worker in self.workers:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
        self.kill_redis()
