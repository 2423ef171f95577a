"""``docket`` accepts everything pydocket 0.27.2's command line accepts.

``cli_support/pydocket-0.27.2-cli.json`` records pydocket's commands,
arguments, options and environment variables (``dump_pydocket_cli.py``
wrote it from the released package).  Each is checked against our typer
app; the worker's options are then run for real on memory://, with a task
that prints the settings its Worker got.
"""

from __future__ import annotations

import asyncio
import enum
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import typer
from cli_support.harness import SUPPORT
from typer.testing import CliRunner, Result

from docket import Docket
from docket.cli import app
from docket.cli.serving import WorkerSettings
from docket.cli.strikes import _rule, parse_value
from docket.cli.tasks import _sleep_seconds

PYDOCKET = json.loads((SUPPORT / "pydocket-0.27.2-cli.json").read_text())
COMMANDS: dict[str, list[dict[str, Any]]] = PYDOCKET["commands"]

KNOWN_DEFAULT_DIFFERENCES = {
    # The Worker's own default; pydocket's CLI and Worker.run said 100 ms.
    ("worker", "--minimum-check-interval"),
    # Both evaluate to hostname#pid (ours when the worker starts).
    ("worker", "--name"),
    # Both: rich on a terminal, else plain (pydocket's recorded default is
    # the one its dump happened to see).
    ("worker", "--logging-format"),
}

runner = CliRunner()


def ours() -> dict[str, Any]:
    """Our commands by path, as click sees them."""
    found: dict[str, Any] = {}

    def walk(command: Any, path: list[str]) -> None:
        found[" ".join(path)] = command
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


OURS = ours()


def _envvars(param: Any) -> list[str]:
    envvar = param.envvar
    return [envvar] if isinstance(envvar, str) else list(envvar or [])


def _option(command: Any, spelling: str) -> Any:
    for param in command.params:
        if param.param_type_name == "option" and spelling in (
            *param.opts,
            *param.secondary_opts,
        ):
            return param
    raise AssertionError(f"no option {spelling}")


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_pydocket_command_option_and_variable_is_accepted(path: str) -> None:
    assert path in OURS, f"no command {path!r}"
    command = OURS[path]
    theirs = COMMANDS[path]
    our_arguments = [p for p in command.params if p.param_type_name == "argument"]
    their_arguments = [p for p in theirs if p["kind"] == "argument"]
    assert len(our_arguments) == len(their_arguments)
    for mine, their in zip(our_arguments, their_arguments, strict=True):
        assert mine.required == their["required"], their["name"]
        assert mine.nargs == 1
    for their in (p for p in theirs if p["kind"] == "option"):
        spelling = their["opts"][0]
        mine = _option(command, spelling)
        for other in their["opts"][1:] + their["secondary_opts"]:
            assert _option(command, other) is mine, other
        assert set(their["envvars"]) <= set(_envvars(mine)), spelling
        assert mine.is_flag == their["is_flag"], spelling
        assert mine.multiple == their["multiple"], spelling
        annotation = mine.type_descriptor.annotation
        if "choices" in their:
            members = {str(m.value).lower() for m in annotation} if annotation else set()
            assert {c.lower() for c in their["choices"]} <= members, spelling
        default = their["default"]
        if (path, spelling) in KNOWN_DEFAULT_DIFFERENCES or isinstance(default, (dict, list)):
            continue  # durations and --tasks: checked by what the worker runs with
        value = mine.default.value if isinstance(mine.default, enum.Enum) else mine.default
        assert value == default, spelling


# -- the worker's options, run for real --------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env=env)


def run_report(*args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], Result]:
    """Run ``docket worker`` on a fresh memory:// docket with one ``report`` task queued."""
    name = f"compat-{uuid.uuid4().hex[:8]}"
    url = f"memory://{name}"

    async def add() -> None:
        from cli_support.helpers import report

        async with Docket(name, url) as docket:
            await docket.add(report)()

    asyncio.run(add())
    environment = {"DOCKET_URL": url, "DOCKET_NAME": name, **(env or {})}
    result = invoke(
        "worker",
        "--tasks",
        "cli_support.helpers:settings_tasks",
        "--until-finished",
        "--logging-format",
        "plain",
        *args,
        env=environment,
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("settings ")]
    assert len(lines) == 1, result.output
    return json.loads(lines[0].removeprefix("settings ")), result


def test_the_worker_runs_with_pydockets_defaults() -> None:
    settings, _ = run_report()
    defaults = {p["opts"][0]: p["default"] for p in COMMANDS["worker"] if p["kind"] == "option"}
    assert settings["concurrency"] == defaults["--concurrency"]
    assert settings["message_batch"] == defaults["--message-batch"]
    assert settings["redelivery_timeout"] == defaults["--redelivery-timeout"]["seconds"]
    assert settings["reconnection_delay"] == defaults["--reconnection-delay"]["seconds"]
    assert settings["scheduling_resolution"] == defaults["--scheduling-resolution"]["seconds"]
    assert settings["schedule_automatic_tasks"] is defaults["--schedule-automatic-tasks"]
    assert settings["worker_instrumentation"] is defaults["--enable-internal-instrumentation"]
    assert settings["docket_instrumentation"] is False
    assert settings["fallback_task"] is None and settings["dependencies"] == []
    # Documented difference: the Worker's own default, not pydocket's CLI's 100 ms.
    assert settings["minimum_check_interval"] == 0.25
    assert settings["name"].rpartition("#")[2].isdigit()


def test_every_worker_option_reaches_the_worker() -> None:
    settings, result = run_report(
        "--name",
        "compat-worker",
        "--concurrency",
        "3",
        "--message-batch",
        "7",
        "--prefetch",
        "2",
        "--max-deliveries",
        "4",
        "--redelivery-timeout",
        "10m",
        "--reconnection-delay",
        "00:07",
        "--minimum-check-interval",
        "250ms",
        "--scheduling-resolution",
        "0:00:02",
        "--no-schedule-automatic-tasks",
        "--enable-internal-instrumentation",
        "--fallback-task",
        "cli_support.helpers:fallback",
        "--dependencies",
        "cli_support.helpers:named_dependencies",
        "--logging-level",
        "DEBUG",
    )
    assert settings == {
        **settings,
        "name": "compat-worker",
        "concurrency": 3,
        "message_batch": 7,
        "prefetch": 2,
        "max_deliveries": 4,
        "redelivery_timeout": 600.0,
        "reconnection_delay": 7.0,
        "minimum_check_interval": 0.25,
        "scheduling_resolution": 2.0,
        "schedule_automatic_tasks": False,
        "worker_instrumentation": True,
        "docket_instrumentation": True,
        "fallback_task": "fallback",
        "dependencies": ["around"],
    }
    # The dependency ran around the task.
    assert result.stdout.index("dependency entered") < result.stdout.index("settings ")
    assert result.stdout.index("settings ") < result.stdout.index("dependency exited")


def test_pydockets_environment_variables_reach_the_worker() -> None:
    settings, result = run_report(
        env={
            "DOCKET_WORKER_NAME": "env-worker",
            "DOCKET_WORKER_CONCURRENCY": "2",
            "DOCKET_WORKER_MESSAGE_BATCH": "5",
            "DOCKET_WORKER_REDELIVERY_TIMEOUT": "1h",
            "DOCKET_WORKER_RECONNECTION_DELAY": "123",
            "DOCKET_WORKER_MINIMUM_CHECK_INTERVAL": "1s",
            "DOCKET_WORKER_SCHEDULING_RESOLUTION": "00:00:03",
            "DOCKET_WORKER_SCHEDULE_AUTOMATIC_TASKS": "false",
            "DOCKET_WORKER_ENABLE_INTERNAL_INSTRUMENTATION": "true",
            "DOCKET_FALLBACK_TASK": "cli_support.helpers:fallback",
            "DOCKET_WORKER_DEPENDENCIES": "cli_support.helpers:dependencies",
            "DOCKET_LOGGING_LEVEL": "WARNING",
            "DOCKET_LOGGING_FORMAT": "json",
        }
    )
    assert (settings["name"], settings["concurrency"], settings["message_batch"]) == (
        "env-worker",
        2,
        5,
    )
    assert settings["redelivery_timeout"] == 3600.0
    assert settings["reconnection_delay"] == 123.0
    assert settings["minimum_check_interval"] == 1.0
    assert settings["scheduling_resolution"] == 3.0
    assert settings["schedule_automatic_tasks"] is False
    assert settings["worker_instrumentation"] is settings["docket_instrumentation"] is True
    assert settings["fallback_task"] == "fallback"
    assert settings["dependencies"] == ["0"]
    assert "Starting worker" not in result.stderr  # INFO is below WARNING


def test_an_empty_dependencies_variable_means_none() -> None:
    settings, _ = run_report(env={"DOCKET_WORKER_DEPENDENCIES": ""})
    assert settings["dependencies"] == []
    settings, _ = run_report("--dependencies", "")
    assert settings["dependencies"] == []


def test_an_empty_worker_name_means_the_default() -> None:
    settings, _ = run_report("--name", "")
    assert settings["name"].rpartition("#")[2].isdigit()


def test_free_ports_for_health_and_metrics() -> None:
    # A metrics port installs a global MeterProvider, once per process; the
    # telemetry tests' in-memory one must be the one installed.
    from conformance.test_telemetry import install_telemetry

    install_telemetry()
    _, result = run_report("--healthcheck-port", "0", "--metrics-port", "0")
    assert "Answering health checks on port " in result.stderr
    assert "port 0" not in result.stderr


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["--message-batch", "0"],
            ["'--message-batch'", "'0' is out of range: expected at least 1"],
        ),
        (["--concurrency", "x"], ["'--concurrency'", "'x' is not a whole number"]),
        (["--prefetch", "-2"], ["'--prefetch'", "'-2' is out of range: expected at least 0"]),
        (["--max-deliveries", "0"], ["'--max-deliveries'", "'0' is out of range"]),
        (["--healthcheck-port", "-1"], ["'--healthcheck-port'", "'-1' is out of range"]),
        (["--metrics-port", "65536"], ["'--metrics-port'", "'65536' is out of range"]),
        (["--logging-level", "LOUD"], ["'--logging-level'", "'LOUD'"]),
        (["--logging-format", "xml"], ["'--logging-format'", "'xml'"]),
        (["--enable-internal-instrumentation=maybe"], ["--enable-internal-instrumentation"]),
    ],
)
def test_bad_worker_values_are_usage_errors(args: list[str], needles: list[str]) -> None:
    result = invoke("worker", "--url", "memory://bad", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_bad_worker_environment_values_name_the_variable() -> None:
    result = invoke("worker", "--url", "memory://bad", env={"DOCKET_WORKER_MESSAGE_BATCH": "many"})
    assert result.exit_code == 2
    assert "DOCKET_WORKER_MESSAGE_BATCH" in result.stderr and "'many'" in result.stderr


def test_worker_settings_default_to_the_library() -> None:
    from docket import Worker

    async def defaults() -> Worker:
        async with Docket("defaults", "memory://compat-defaults") as docket:
            return Worker(docket)

    worker = asyncio.run(defaults())
    settings = WorkerSettings()
    assert settings.message_batch == worker.message_batch
    assert settings.prefetch == worker.prefetch
    assert settings.max_deliveries == worker.max_deliveries
    assert list(settings.tasks) == ["docket.tasks:standard_tasks"]


# -- the other commands' pydocket forms ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("int:5", 5),
        ("complex:1+2j", 1 + 2j),
        ("builtins.bool:false", False),
        ("builtins.int:7", 7),
        ("datetime.timedelta:30", timedelta(seconds=30)),
        ("frozenset:ab", frozenset("ab")),
        ("type:admin", "type:admin"),
        ("ValueError:x", "ValueError:x"),
    ],
)
def test_strike_values_read_as_pydocket_reads_them(text: str, value: Any) -> None:
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_an_empty_strike_argument_is_a_wildcard() -> None:
    rule = _rule("", "customer", "==", "int:1")
    assert (rule.function, rule.parameter, rule.value) == (None, "customer", 1)
    rule = _rule("job", "", "==", None)
    assert (rule.function, rule.parameter) == ("job", None)


@pytest.mark.parametrize(("text", "seconds"), [("1", 1.0), ("1e-3", 0.001), ("2.5", 2.5)])
def test_sleep_takes_pydockets_float_seconds(text: str, seconds: float) -> None:
    assert _sleep_seconds(text) == seconds


def test_completion_options_exist() -> None:
    result = invoke("--show-completion", env={"SHELL": "/bin/bash"})
    assert result.exit_code == 0
    assert "docket" in result.stdout


async def _job() -> None: ...


def test_watch_reads_pydockets_variable() -> None:
    pytest.importorskip("fakeredis")
    name = f"watch-{uuid.uuid4().hex[:8]}"
    url = f"fakeredis://{name}"

    async def setup() -> None:
        async with Docket(name, url) as docket:
            await docket.add(_job, when=docket.clock.now() + timedelta(hours=1), key="k")()
            await docket.cancel("k")

    asyncio.run(setup())
    result = invoke("watch", "k", "-d", name, env={"DOCKET_REDIS_URL": url})
    assert result.exit_code == 1
    assert result.stdout.startswith("k: cancelled task=_job"), result.output
