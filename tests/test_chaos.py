"""The chaos harness at CI size: 2,000 tasks and two poison tasks through real
producer and worker processes while Redis restarts and workers are SIGKILLed.

It passes only if nothing is lost, every task ends COMPLETED, and only the
poison tasks are dead-lettered (``chaos/README.md``); duplicates are allowed
(delivery is at least once) and only reported.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.redis_server import find_redis_server

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(
    r"chaos: (\d+) tasks, (\d+) lost, (\d+) duplicated, (\d+) redis restarts, (\d+) worker kills"
)


def test_a_ci_sized_chaos_run_loses_nothing_and_blames_only_the_poison() -> None:
    redis_server = find_redis_server()
    if redis_server is None:
        pytest.skip("no redis-server")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaos",
            *("--tasks", "2000", "--producers", "2", "--workers", "3", "--poison", "2"),
            *("--seed", "7", "--deadline", "240", "--redis-server", redis_server),
            # Often enough that a fast machine, done with 2,000 tasks in a few
            # seconds, still sees Redis restart and a worker die.
            *("--restart-every", "1.5", "--kill-every", "1.5"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = SUMMARY.search(run.stdout)
    assert summary is not None, run.stdout + run.stderr
    assert run.returncode == 0, run.stdout + run.stderr
    tasks, lost, _, restarts, kills = (int(group) for group in summary.groups())
    assert (tasks, lost) == (2000, 0)
    # The chaos really happened: Redis restarted and workers were killed.
    assert restarts >= 1 and kills >= 1, summary.group(0)
