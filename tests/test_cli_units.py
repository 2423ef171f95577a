"""The CLI's building blocks on their own: parsing, loading, the watch view, metrics, health."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from docket import Docket, VirtualClock, Worker
from docket.cli.health import HealthMonitor, HealthServer
from docket.cli.loading import import_object, load_function, load_tasks
from docket.cli.metrics import DepthCollector, OpenTelemetryCollector
from docket.cli.options import format_duration, parse_duration
from docket.cli.serving import describe_task
from docket.cli.strikes import _rule, describe_rule, parse_value
from docket.cli.support import (
    CLIError,
    check_url,
    describe_error,
    open_docket,
    redact_url,
    scrub,
)
from docket.cli.watch import LineReporter, LiveReporter, WatchView
from docket.engines.base import ExecutionRecord, ProgressChange, ProgressState, StateChange
from docket.instrumentation import DEPTHS
from docket.states import ExecutionState
from docket.strikelist import Operator

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Talks to 127.0.0.1 directly, whatever proxy the environment names."""

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


# -- durations ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("5s", 5),
        ("10m", 600),
        ("1h", 3600),
        ("30", 30),
        ("1.5", 1.5),
        ("0", 0),
        (" 5S ", 5),
        ("01:30", 90),
        ("1:02:03", 3723),
        ("0:00:00.5", 0.5),
        # pydocket's forms, read as Python's int() reads them
        ("123", 123),
        ("123s", 123),
        ("123m", 123 * 60),
        ("123h", 123 * 3600),
        ("+5", 5),
        ("1_000", 1000),
        ("5 s", 5),
        ("1:60", 120),
        ("0:90", 90),
        ("1:2:60", 3780),
        ("1:99:00", 3600 + 99 * 60),
        (" 1 : 30 ", 90),
        ("00:00", 0),
        ("00:00:00", 0),
    ],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text, "--x") == timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("1.5d", 1.5), (" 7 D ", 7)])
def test_durations_accept_days(text: str, days: float) -> None:
    assert parse_duration(text, "--x") == timedelta(days=days)


@pytest.mark.parametrize("text", ["99999999999999d", "999999999999999999:00:00"])
def test_an_overflowing_duration_is_a_clear_error(text: str) -> None:
    with pytest.raises(
        CLIError, match=rf"invalid --x {text!r}: too long \(at most 999,999,999 days\)"
    ):
        parse_duration(text, "--x")


@pytest.mark.parametrize(
    "text", ["5x", "-1", "", "ms", "1w", "five", "1:2:3:4", "-1:30", "1.5:00", "1:", ":5", "1__0"]
)
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(CLIError, match=r"invalid --redelivery-timeout .*250ms, 5s, 10m, 1h"):
        parse_duration(text, "--redelivery-timeout")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250ms"),
        (5, "5s"),
        (90, "90s"),
        (300, "5m"),
        (3600, "1h"),
        (0, "0s"),
        (1.5, "1500ms"),
    ],
)
def test_durations_format_shortest_exact(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
    assert parse_duration(text) == timedelta(seconds=seconds)


# -- strike values ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("int:5", 5),
        ("float:1.5", 1.5),
        ("bool:true", True),
        ("bool:False", False),
        ("str:x", "x"),
        ("str:int:5", "int:5"),
        ("plain", "plain"),
        ("https://example.com", "https://example.com"),
        ("none:", None),
        ("datetime.timedelta:30", timedelta(seconds=30)),
        ("datetime.timedelta:5m", timedelta(minutes=5)),
        ("decimal.Decimal:1.50", Decimal("1.50")),
        ("datetime.datetime:2025-01-02T03:04:05+00:00", NOW),
    ],
)
def test_strike_values_are_typed(text: str, value: Any) -> None:
    parsed = parse_value(text)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("int:five", "invalid value 'int:five'"),
        ("bool:maybe", "expected true or false"),
        ("no.such.module.Type:1", "unknown value type 'no.such.module.Type'"),
    ],
)
def test_bad_strike_values_are_one_line_errors(text: str, error: str) -> None:
    with pytest.raises(CLIError, match=error):
        parse_value(text)


def test_strike_rules_from_arguments() -> None:
    rule = _rule("charge", "amount", "between", "int:1,int:9")
    assert (rule.function, rule.parameter, rule.operator, rule.value) == (
        "charge",
        "amount",
        Operator.BETWEEN,
        (1, 9),
    )
    assert describe_rule(rule) == "'charge' where amount between (1, 9)"
    assert describe_rule(_rule("charge", "*", "==", None)) == "'charge'"
    assert describe_rule(_rule("*", "customer", "==", "int:4")) == "every task where customer == 4"
    with pytest.raises(CLIError, match="cannot both be"):
        _rule("*", "*", "==", None)
    with pytest.raises(CLIError, match="operator must be one of"):
        _rule("charge", "amount", "~=", "int:1")


# -- URLs and errors ----------------------------------------------------------


def test_urls_are_checked_before_connecting() -> None:
    assert check_url("redis://h:6379/0", allow_memory=False) == "redis://h:6379/0"
    assert check_url("memory://demo", allow_memory=True) == "memory://demo"
    with pytest.raises(CLIError, match="memory:// URL scheme is not supported"):
        check_url("memory://demo", allow_memory=False)
    with pytest.raises(CLIError, match="scheme 'http' is not supported"):
        check_url("http://h", allow_memory=True)
    with pytest.raises(CLIError, match="expected scheme://"):
        check_url("localhost:6379", allow_memory=True)
    with pytest.raises(CLIError, match="invalid --url 'redis://h:abc/0': Port could not be cast"):
        check_url("redis://h:abc/0", allow_memory=True)


async def test_sentinel_urls_are_checked_by_the_engine_registry() -> None:
    """The CLI imports no engine: what only an engine knows is refused when the docket is built."""
    url = "redis+sentinel://:pw@s1:26379,s2:26380/mymaster/0"
    assert check_url(url, allow_memory=False) == url
    with pytest.raises(CLIError, match="must name the service") as raised:
        async with open_docket("d", "redis+sentinel://:pw@s1:26379,s2"):
            pass  # pragma: no cover
    assert "pw" not in str(raised.value)
    with pytest.raises(CLIError, match="cannot open docket 'a{b'") as raised:
        async with open_docket("a{b", "redis://:pw@h/0"):
            pass  # pragma: no cover
    assert "pw" not in str(raised.value)


def test_passwords_are_scrubbed_from_any_message() -> None:
    url = "redis+sentinel://me:hunter22@s1:1/m/0?sentinel_password=sesame&x=1"
    said = "failed at redis+sentinel://me:hunter22@s1:1/m/0?sentinel_password=sesame"
    assert scrub(said, url) == "failed at redis+sentinel://me:***@s1:1/m/0?sentinel_password=***"
    assert scrub("nothing secret", "redis://h/0") == "nothing secret"
    assert describe_error(ValueError(f"bad {url}"), url).count("***") == 2


def test_passwords_are_redacted() -> None:
    assert redact_url("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("redis://me:s3cret@h/0") == "redis://me:***@h/0"
    assert redact_url("redis://h/0") == "redis://h/0"
    assert (
        redact_url("redis+sentinel://me:pw@s1:1,s2:2/m/0?sentinel_password=x&socket_timeout=2")
        == "redis+sentinel://me:***@s1:1,s2:2/m/0?sentinel_password=***&socket_timeout=2"
    )


def test_connection_errors_read_as_one_line() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    message = describe_error(RedisConnectionError("Error 111\nrefused"), "redis://:pw@h:1/0")
    assert message == "cannot reach redis://:***@h:1/0: Error 111 refused"
    assert describe_error(RuntimeError("odd")) == "RuntimeError: odd"


# -- loading tasks ------------------------------------------------------------


def test_task_collections_load_in_order() -> None:
    from cli_support import helpers

    assert load_tasks(["cli_support.helpers:tasks", "cli_support.helpers:hold"]) == helpers.tasks
    assert load_function("cli_support.helpers:fallback", "--fallback-task") is helpers.fallback


@pytest.mark.parametrize(
    ("path", "kind", "error"),
    [
        ("no_such_module:tasks", ModuleNotFoundError, "cannot import module 'no_such_module'"),
        (
            "cli_support.helpers:missing",
            AttributeError,
            "module 'cli_support.helpers' has no attribute 'missing'",
        ),
        (
            "cli_support.helpers:not_tasks",
            TypeError,
            "must name an iterable of task functions, not int",
        ),
        ("cli_support.helpers", ValueError, "expected module:attribute"),
        ("a:b:c", ValueError, "expected module:attribute"),
    ],
)
def test_bad_task_paths_are_one_line_errors(path: str, kind: type[Exception], error: str) -> None:
    """The exception pydocket raises for each (so library callers can catch it), better said."""
    with pytest.raises(kind, match=error) as raised:
        load_tasks([path], "--tasks")
    message = str(raised.value)
    assert "\n" not in message and f"--tasks {path!r}" in message
    assert describe_error(raised.value) == message


def test_a_module_that_fails_to_import_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_tasks.py").write_text("import no_such_dependency\n")
    (tmp_path / "raising_tasks.py").write_text("raise RuntimeError('bad config')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="importing module 'broken_tasks'.*'no_such_dependency'"):
        import_object("broken_tasks:tasks")
    with pytest.raises(ImportError, match="RuntimeError: bad config"):
        import_object("raising_tasks:tasks")
    with pytest.raises(TypeError, match="--fallback-task 'cli_support.helpers:not_tasks' must"):
        load_function("cli_support.helpers:not_tasks", "--fallback-task")


def test_startup_lines_describe_tasks_without_dependencies() -> None:
    from cli_support import helpers

    assert describe_task("stepped", helpers.stepped) == "stepped(directory: str, steps: int, ...)"
    assert (
        describe_task("fallback", helpers.fallback) == "fallback(*args: object, **kwargs: object)"
    )


# -- the watch view -------------------------------------------------------------


def _record(**changes: Any) -> ExecutionRecord:
    fields: dict[str, Any] = dict(
        key="k",
        function_name="job",
        payload=b"",
        when=NOW,
        attempt=1,
        headers={},
        generation=3,
        state=ExecutionState.QUEUED,
    )
    fields.update(changes)
    return ExecutionRecord(**fields)


def test_the_watch_view_follows_the_latest_generation() -> None:
    view = WatchView("k")
    view.apply_record(_record())
    view.apply_event(StateChange("k", ExecutionState.RUNNING, 3, worker="w1"))
    assert (view.state, view.worker) == (ExecutionState.RUNNING, "w1")
    view.apply_event(ProgressChange("k", 3, ProgressState(2, 5, "copying")))
    assert view.progress_text() == "2/5 copying"
    view.apply_event(ProgressChange("k", 2, ProgressState(9, 9, "stale")))
    view.apply_event(StateChange("k", ExecutionState.COMPLETED, 2))
    assert view.state is ExecutionState.RUNNING and not view.ended
    view.apply_event(StateChange("k", ExecutionState.QUEUED, 4))  # a retry
    assert (view.state, view.generation, view.progress) == (
        ExecutionState.QUEUED,
        4,
        ProgressState(),
    )
    view.apply_record(_record(generation=3, state=ExecutionState.FAILED))
    assert view.state is ExecutionState.QUEUED
    started = NOW + timedelta(seconds=1)
    view.apply_record(
        _record(
            generation=4,
            state=ExecutionState.FAILED,
            attempt=2,
            worker="w2",
            started_at=started,
            completed_at=started + timedelta(seconds=2),
            error="RuntimeError: boom",
        )
    )
    assert view.ended and not view.succeeded
    assert view.line(NOW) == (
        "k: failed task=job worker=w2 attempt=2 duration=2s error=RuntimeError: boom"
    )


def test_the_line_reporter_prints_only_changes() -> None:
    out = io.StringIO()
    reporter = LineReporter(Console(file=out, width=200), VirtualClock(NOW))
    view = WatchView("k")
    view.apply_record(_record(state=ExecutionState.RUNNING, worker="w"))
    reporter.update(view)
    reporter.update(view)
    view.apply_event(ProgressChange("k", 3, ProgressState(1, 2, None)))
    reporter.update(view)
    view.apply_event(StateChange("k", ExecutionState.CANCELLED, 3))
    reporter.close(view)
    assert out.getvalue().splitlines() == [
        "k: running task=job worker=w",
        "k: running task=job worker=w progress=1/2",
        "k: cancelled task=job worker=w progress=1/2",
    ]


def test_the_live_reporter_draws_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True)
    reporter = LiveReporter(console, VirtualClock(NOW))
    view = WatchView("k")
    view.apply_record(_record(state=ExecutionState.RUNNING, worker="w", started_at=NOW))
    reporter.update(view)
    view.apply_event(ProgressChange("k", 3, ProgressState(1, 4, "step one")))
    reporter.update(view)
    view.apply_event(StateChange("k", ExecutionState.COMPLETED, 3))
    reporter.close(view)
    text = out.getvalue()
    assert "completed" in text and "step one" in text and "1/4" in text


# -- metrics ---------------------------------------------------------------------


def test_opentelemetry_metrics_translate_to_prometheus() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from prometheus_client import CollectorRegistry, generate_latest

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("docket")
    meter.create_counter("docket_tasks_completed").add(2, {"docket.name": "d", "docket.task": "t"})
    meter.create_up_down_counter("docket_tasks_running").add(1, {"docket.name": "d"})
    meter.create_histogram("docket_task_duration", unit="s").record(0.3, {"docket.task": "t"})
    registry = CollectorRegistry()
    registry.register(OpenTelemetryCollector(reader))
    text = generate_latest(registry).decode()
    assert 'docket_tasks_completed_total{docket_name="d",docket_task="t"} 2.0' in text
    assert 'docket_tasks_running{docket_name="d"} 1.0' in text
    assert 'docket_task_duration_seconds_count{docket_task="t"} 1.0' in text
    assert 'docket_task_duration_seconds_bucket{docket_task="t",le="+Inf"} 1.0' in text


def test_depth_gauges_without_an_sdk() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(DepthCollector())
    DEPTHS[("units-docket", "units-worker")] = (3, 7)
    try:
        text = generate_latest(registry).decode()
    finally:
        del DEPTHS[("units-docket", "units-worker")]
    assert 'docket_queue_depth{docket_name="units-docket",docket_worker="units-worker"} 3.0' in text
    assert (
        'docket_schedule_depth{docket_name="units-docket",docket_worker="units-worker"} 7.0' in text
    )


# -- health ----------------------------------------------------------------------


def _get(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with NO_PROXY.open(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_health_needs_a_recent_probe_and_a_claiming_worker() -> None:
    clock = VirtualClock(NOW)
    async with Docket("health-units", "memory://health-units", clock=clock) as docket:
        monitor = HealthMonitor(docket, "w", clock=clock, interval=1.0, stale_after=5.0)
        assert monitor.status()[1]["problem"] == "not checked yet"
        await monitor.probe()
        assert monitor.status()[1]["problem"].startswith("not claiming work")
        monitor.claiming = True
        assert monitor.status() == (True, {"status": "ok", "docket": "health-units", "worker": "w"})
        server = HealthServer(monitor, 0)
        try:
            assert _get(server.port)[0] == 200
            clock.advance(6)
            status, body = _get(server.port)
            assert status == 503 and body["problem"].startswith("no successful engine check")
            await monitor.probe()
            assert _get(server.port)[0] == 200

            async def unreachable(now: datetime) -> None:
                raise ConnectionError("server went away")

            docket.engine.counts = unreachable  # type: ignore[method-assign,assignment]
            await monitor.probe()
            status, body = _get(server.port)
            assert status == 503
            assert body["problem"] == "engine unreachable: ConnectionError: server went away"
        finally:
            server.stop()


async def test_worker_defaults_come_from_the_library() -> None:
    from docket.cli.serving import WorkerSettings

    settings = WorkerSettings(docket_name="d", url="memory://d", tasks=[])
    async with Docket("defaults", "memory://defaults") as docket:
        worker = Worker(docket)
    assert settings.concurrency == worker.concurrency
    assert settings.minimum_check_interval == worker.minimum_check_interval
    assert settings.scheduling_resolution == worker.scheduling_resolution
    assert settings.redelivery_timeout == worker.redelivery_timeout
    assert settings.reconnection_delay == worker.reconnection_delay
