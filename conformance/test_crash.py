"""Nothing is lost when a worker dies mid-task (real Redis only).

A worker runs in a real subprocess with a short ``redelivery_timeout``; once
its task has started (it counts its runs in a Redis key) the process is killed
with SIGKILL, so it neither finishes, nor acknowledges, nor renews its lease.
A second worker then takes the work over once the lease expires and completes
it: the same key, COMPLETED, run twice in all.

This needs a real server: the session's throwaway ``redis-server``, or the one
``DOCKET_TEST_REDIS_URL`` names (the subprocess connects to the same URL).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from conformance.conftest import GUARD_SECONDS
from conformance.crash_worker import crash_task
from conformance.redis_server import RedisServer
from docket import Docket, ExecutionState, Worker

ROOT = Path(__file__).resolve().parent.parent
REDELIVERY = timedelta(seconds=1)

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_log(tmp_path: Path) -> Iterator[Path]:
    """Where the subprocess writes its output; shown when the test fails."""
    path = tmp_path / "worker.log"
    yield path


def start_worker_process(
    url: str, name: str, worker_name: str, log: Path
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with log.open("wb") as output:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "conformance.crash_worker",
                url,
                name,
                worker_name,
                str(REDELIVERY.total_seconds()),
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def wait_for_runs(
    client: aioredis.Redis, counter: str, runs: int, process: subprocess.Popen[bytes], log: Path
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD_SECONDS
    while int(await client.get(counter) or 0) < runs:
        if process.poll() is not None:
            pytest.fail(f"the worker process exited ({process.returncode}):\n{log.read_text()}")
        if loop.time() > deadline:
            pytest.fail(f"the task did not start within {GUARD_SECONDS}s:\n{log.read_text()}")
        await asyncio.sleep(0.02)


async def test_work_of_a_killed_worker_is_redelivered_and_completed(
    redis_server: RedisServer, worker_log: Path
) -> None:
    url = redis_server.url
    name = f"crash-{uuid.uuid4().hex[:12]}"
    counter = f"crash-test-runs:{name}"
    key = f"crash-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(url)
    process: subprocess.Popen[bytes] | None = None
    try:
        async with Docket(name=name, url=url) as docket:
            execution = await docket.add(crash_task, key=key)(url, counter)

            process = start_worker_process(url, name, "doomed", worker_log)
            await wait_for_runs(client, counter, 1, process, worker_log)

            await execution.sync()
            assert execution.state is ExecutionState.RUNNING
            assert execution.worker == "doomed"

            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            assert process.returncode == -signal.SIGKILL

            # The lease is still held by the dead worker, so the work waits.
            await execution.sync()
            assert execution.state is ExecutionState.RUNNING

            async with Worker(docket, name="survivor", redelivery_timeout=REDELIVERY) as worker:
                await asyncio.wait_for(worker.run_until_finished(), timeout=GUARD_SECONDS)

            assert await asyncio.wait_for(execution.get_result(), GUARD_SECONDS) == (
                "completed on run 2"
            )
            assert execution.key == key
            assert execution.state is ExecutionState.COMPLETED
            assert execution.worker == "survivor"
            assert int(await client.get(counter) or 0) == 2
            assert (await docket.snapshot()).total_tasks == 0
            assert await docket.dead_letters() == []
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        await client.delete(counter)
        await client.aclose()
