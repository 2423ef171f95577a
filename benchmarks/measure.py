"""Shared measuring helpers for the issue-19 benchmarks: Redis CPU, client CPU, percentiles.

``redis_cpu.py``, ``lateness.py`` and ``backlog.py`` import it (run them as
scripts: their own directory is then on ``sys.path``).  Nothing here runs a
benchmark by itself.

Redis CPU is read from ``INFO cpu`` (``used_cpu_sys`` + ``used_cpu_user``, the
server process's rusage) on a connection of its own, so the figure covers
every client of the server.  An ``INFO`` call costs the server a few
microseconds itself; ``CpuMeter`` measures that once and subtracts it.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

from conformance.redis_server import RedisServer, start_redis_server  # noqa: E402

__all__ = [
    "CpuMeter",
    "CpuSpan",
    "RedisServer",
    "fmt",
    "median",
    "noop",
    "percentile",
    "start_redis_server",
    "tasks",
    "used_memory",
]


async def noop() -> None:
    """The no-op task every benchmark runs."""
    return None


# For ``docket worker --tasks measure:tasks``.
tasks = [noop]


def redis_cpu_seconds(client: redis.Redis) -> float:
    """The server's CPU seconds so far (system + user), from INFO cpu."""
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def used_memory(client: redis.Redis) -> int:
    """The server's ``used_memory`` in bytes, from INFO memory."""
    return int(client.info("memory")["used_memory"])


@dataclass
class CpuSpan:
    """What one measured span cost: wall seconds, Redis CPU seconds, this process's CPU seconds."""

    wall: float
    redis: float
    client: float

    def per(self, count: int) -> tuple[float, float, float]:
        """Rate per second, Redis CPU µs per item and client CPU µs per item for ``count`` items."""
        return (
            count / self.wall if self.wall > 0 else float("nan"),
            self.redis / count * 1e6,
            self.client / count * 1e6,
        )


class CpuMeter:
    """Measures spans of Redis CPU and this process's CPU, on a separate sync connection."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.info_cost = self._info_cost()
        self._started: tuple[float, float, float] | None = None

    def _info_cost(self) -> float:
        """Redis CPU seconds one INFO cpu call costs (the mean of 50)."""
        before = redis_cpu_seconds(self.client)
        for _ in range(50):
            redis_cpu_seconds(self.client)
        after = redis_cpu_seconds(self.client)
        return max(0.0, (after - before) / 51)

    def start(self) -> None:
        """Begin a span."""
        self._started = (
            time.perf_counter(),
            redis_cpu_seconds(self.client),
            time.process_time(),
        )

    def stop(self) -> CpuSpan:
        """End the span begun by ``start`` and return its cost (less one INFO call's)."""
        if self._started is None:
            raise RuntimeError("CpuMeter.stop called before start")
        wall0, redis0, client0 = self._started
        client1 = time.process_time()
        wall1 = time.perf_counter()
        redis1 = redis_cpu_seconds(self.client)
        self._started = None
        return CpuSpan(wall1 - wall0, max(0.0, redis1 - redis0 - self.info_cost), client1 - client0)

    def close(self) -> None:
        """Close the INFO connection."""
        self.client.close()


def median(values: Sequence[float | None]) -> float | None:
    """The median of the values present, or None if there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def fmt(value: float | None, digits: int = 0) -> str:
    """A table cell: thousands separators, ``-`` for a missing figure."""
    return "-" if value is None else f"{value:,.{digits}f}"
