"""``docket worker --metrics-port`` scraped over HTTP from a real worker process.

The worker runs as its own process on memory:// and on the suite's real
Redis.  "A default install" has prometheus-client and opentelemetry-api but
no OpenTelemetry SDK or exporter: the process is started with those two made
unimportable (``sys.modules[name] = None``), which is what their absence
looks like to docket.  A second test runs with the SDK importable, the path
an application that installs it takes, and expects the same histograms.
"""

from __future__ import annotations

import re
import socket
import sys
import textwrap
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from docket.instrumentation import SECONDS_BUCKETS
from tests.cli_support.harness import CLIProcess, poll

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

TASKS = textwrap.dedent(
    """
    import asyncio
    from datetime import timedelta

    from docket import Perpetual


    async def tick(
        perpetual: Perpetual = Perpetual(every=timedelta(milliseconds=50), automatic=True),
    ) -> None:
        await asyncio.sleep(0.02)


    async def flop(
        perpetual: Perpetual = Perpetual(every=timedelta(milliseconds=200), automatic=True),
    ) -> None:
        raise RuntimeError("flop")


    tasks = [tick, flop]
    """
)

WITHOUT_SDK = (
    "import sys; "
    "sys.modules.update(dict.fromkeys(['opentelemetry.sdk', 'opentelemetry.exporter'])); "
    "from docket.__main__ import main; sys.argv[0] = 'docket'; main()"
)
WITH_SDK = "import sys; from docket.__main__ import main; sys.argv[0] = 'docket'; main()"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["memory", "redis"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    value: str = request.getfixturevalue("redis_server_url")
    return value


@pytest.fixture
def tasks_dir(tmp_path: Path) -> Path:
    (tmp_path / "metrics_tasks.py").write_text(TASKS)
    return tmp_path


def start(code: str, url: str, tasks_dir: Path, *args: str) -> CLIProcess:
    command = [
        sys.executable,
        "-c",
        code,
        "worker",
        "--docket",
        f"metrics-{uuid.uuid4().hex[:8]}",
        "--url",
        url,
        "--tasks",
        "metrics_tasks:tasks",
        "--logging-format",
        "plain",
        *args,
    ]
    root = Path(__file__).resolve().parent.parent
    return CLIProcess(command, env={"PYTHONPATH": f"{tasks_dir}:{root}"})


def scrape(host: str, port: int) -> str | None:
    try:
        with NO_PROXY.open(f"http://{host}:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, OSError):
        return None


def samples(body: str, name: str, **labels: str) -> dict[str, float]:
    """``{le: value}`` (or ``{"": value}``) of ``name``'s samples carrying ``labels``."""
    found: dict[str, float] = {}
    for line in body.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if not match:
            continue
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if all(pairs.get(k) == v for k, v in labels.items()):
            found[pairs.get("le", "")] = float(match.group(2))
    return found


@pytest.fixture
def worker_process() -> Iterator[list[CLIProcess]]:
    started: list[CLIProcess] = []
    yield started
    for process in started:
        process.stop()


def check_histograms(body: str) -> None:
    buckets = samples(body, "docket_task_duration_seconds_bucket", docket_task="tick")
    bounds = [repr(float(b)) for b in SECONDS_BUCKETS] + ["+Inf"]
    assert list(buckets) == bounds, list(buckets)
    assert bounds[0] == "0.001" and bounds[-2] == "3600.0"
    count = samples(body, "docket_task_duration_seconds_count", docket_task="tick")[""]
    assert count >= 3
    # Cumulative, and a 20 ms sleep lands above 10 ms: not all in one bucket.
    values = list(buckets.values())
    assert values == sorted(values)
    assert buckets["0.01"] == 0, buckets
    assert buckets["3600.0"] == buckets["+Inf"] == count
    total = samples(body, "docket_task_duration_seconds_sum", docket_task="tick")[""]
    assert total >= 0.02 * count
    punctual = samples(body, "docket_task_punctuality_seconds_bucket", docket_task="tick")
    assert list(punctual) == bounds
    assert samples(body, "docket_tasks_completed_total", docket_task="tick")[""] >= count
    assert samples(body, "docket_tasks_failed_total", docket_task="flop")[""] >= 1


@pytest.mark.parametrize("code", [WITHOUT_SDK, WITH_SDK], ids=["default-install", "with-sdk"])
def test_a_real_worker_serves_its_histograms_in_seconds(
    url: str, tasks_dir: Path, worker_process: list[CLIProcess], code: str
) -> None:
    port = free_port()
    process = start(code, url, tasks_dir, "--metrics-port", str(port))
    worker_process.append(process)
    process.wait_for_line("Serving metrics", stream="err")
    expected = "prometheus-client" if code is WITHOUT_SDK else "opentelemetry-sdk"
    assert expected in process.errors, process.errors

    def enough() -> str | None:
        body = scrape("127.0.0.1", port)
        if body is None:
            return None
        counts = samples(body, "docket_task_duration_seconds_count", docket_task="tick")
        failed = samples(body, "docket_tasks_failed_total", docket_task="flop")
        return body if counts.get("", 0) >= 3 and failed else None

    body = poll(enough, "three runs of tick and a failure on /metrics", interval=0.1)
    check_histograms(body)


def test_the_metrics_and_health_servers_listen_where_told(
    tasks_dir: Path, worker_process: list[CLIProcess]
) -> None:
    """``--metrics-host``/``--healthcheck-host``: 127.0.0.2 answers, 127.0.0.1 does not."""
    metrics, health = free_port(), free_port()
    process = start(
        WITHOUT_SDK,
        "memory://",
        tasks_dir,
        "--metrics-port",
        str(metrics),
        "--metrics-host",
        "127.0.0.2",
        "--healthcheck-port",
        str(health),
        "--healthcheck-host",
        "127.0.0.2",
    )
    worker_process.append(process)
    process.wait_for_line("Starting worker", stream="err")
    assert f"on port {metrics} at 127.0.0.2" in process.errors
    assert f"on port {health} at 127.0.0.2" in process.errors

    def started() -> str | None:
        body = scrape("127.0.0.2", metrics)
        return body if body and "docket_tasks_started_total" in body else None

    poll(started, "runs counted on 127.0.0.2", interval=0.1)
    assert scrape("127.0.0.1", metrics) is None
    with NO_PROXY.open(f"http://127.0.0.2:{health}/", timeout=5) as response:
        assert response.status == 200
    with pytest.raises(urllib.error.URLError):
        NO_PROXY.open(f"http://127.0.0.1:{health}/", timeout=5)


def test_an_address_that_cannot_be_bound_is_an_error_naming_it(tasks_dir: Path) -> None:
    process = start(
        WITHOUT_SDK, "memory://", tasks_dir, "--metrics-port", "0", "--metrics-host", "192.0.2.1"
    )
    try:
        assert process.wait() != 0
    finally:
        process.stop()
    assert "cannot serve metrics on port 0 at 192.0.2.1" in process.errors, process.errors
