"""The docket_testing pytest plugin, as a user's project sees it (pytester, in subprocesses).

Each test writes a small project and runs pytest on it in a fresh process, so
the plugin is loaded the way an installed package loads it: through its
``pytest11`` entry point, with no ``-p`` option and no conftest.
"""

from __future__ import annotations

import asyncio
import textwrap

import pytest

pytest_plugins = ["pytester"]

REMINDER_TESTS = """
from datetime import timedelta

import pytest

from docket import Docket, VirtualClock, Worker
from docket_testing import advance, assert_no_tasks, assert_scheduled

sent = []


async def send_reminder(user: str) -> None:
    sent.append(user)


{mark}
async def test_reminder_runs_thirty_days_later(docket: Docket) -> None:
    when = docket.clock.now() + timedelta(days=30)
    await docket.add(send_reminder, when=when, key="remind-ann")("ann")
    found = await assert_scheduled(docket, send_reminder, args=("ann",), when=when)
    assert found.key == "remind-ann"

    await advance(docket, timedelta(days=30) - timedelta(milliseconds=1))
    assert sent == []
    runs = await advance(docket, timedelta(milliseconds=1))
    assert sent == ["ann"]
    assert [(run.key, run.state.value) for run in runs] == [("remind-ann", "completed")]
    await assert_no_tasks(docket)


def test_clock_is_virtual(clock: VirtualClock) -> None:
    start = clock.now()
    assert clock.now() == start
    clock.advance(timedelta(days=365))
    assert clock.now() - start == timedelta(days=365)


{mark}
async def test_fixtures_fit_together(docket: Docket, worker: Worker, clock: VirtualClock) -> None:
    assert docket.clock is clock
    assert worker.docket is docket
    await assert_no_tasks(docket)
"""


def write_ini(pytester: pytest.Pytester, mode: str = "auto", *lines: str) -> None:
    """A pytest.ini with pytest-asyncio in ``mode`` and function-scoped fixture loops."""
    settings = [f"asyncio_mode = {mode}", "asyncio_default_fixture_loop_scope = function", *lines]
    pytester.makeini("[pytest]\n" + "\n".join(settings) + "\n")


def write_reminder_project(pytester: pytest.Pytester, *, mode: str) -> None:
    """A project with the reminder tests, in pytest-asyncio ``mode`` (auto or strict)."""
    mark = "@pytest.mark.asyncio" if mode == "strict" else ""
    write_ini(pytester, mode)
    pytester.makepyfile(test_reminders=REMINDER_TESTS.format(mark=mark))


def test_auto_mode_reminder_thirty_days_ahead(pytester: pytest.Pytester) -> None:
    write_reminder_project(pytester, mode="auto")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["docket_testing: docket fixture on memory://"])


def test_strict_mode_with_marked_tests(pytester: pytest.Pytester) -> None:
    write_reminder_project(pytester, mode="strict")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def leftover_keys(url: str) -> list[bytes]:
    """Keys of dockets the plugin made (``{docket-test-...}:...``) still on the server."""
    import redis.asyncio

    async def scan() -> list[bytes]:
        client = redis.asyncio.Redis.from_url(url)
        try:
            return [key async for key in client.scan_iter(match="{docket-test-*")]
        finally:
            await client.aclose()

    return asyncio.run(scan())


def test_same_file_passes_on_real_redis(pytester: pytest.Pytester, redis_server_url: str) -> None:
    write_reminder_project(pytester, mode="auto")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--docket-url", redis_server_url
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"docket_testing: docket fixture on {redis_server_url}"])
    assert leftover_keys(redis_server_url) == []


def test_ini_docket_url_runs_on_fakeredis(pytester: pytest.Pytester) -> None:
    pytest.importorskip("fakeredis")
    write_ini(pytester, "auto", "docket_url = fakeredis://plugin-test")
    pytester.makepyfile(test_reminders=REMINDER_TESTS.format(mark=""))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["docket_testing: docket fixture on fakeredis://plugin-test"])


def test_command_line_overrides_ini(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "auto", "docket_url = fakeredis://from-ini")
    pytester.makepyfile(
        test_where="""
        async def test_where(docket):
            assert docket.url.startswith("memory://"), docket.url
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--docket-url", "memory://")
    result.assert_outcomes(passed=1)


def test_each_test_gets_its_own_docket(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(
        test_isolation="""
        import pytest
        from docket_testing import assert_no_tasks

        async def task() -> None: ...

        @pytest.mark.parametrize("round", [1, 2])
        async def test_starts_empty(docket, round):
            await assert_no_tasks(docket)
            await docket.add(task, key="same-key")()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_task_failure_shows_the_tasks_traceback(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(
        test_failure="""
        from docket_testing import run_due

        async def charge(amount: int) -> None:
            raise ValueError(f"card declined for {amount}")

        async def test_charge(docket):
            await docket.add(charge)(42)
            await run_due(docket)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*raise ValueError(f"card declined for {amount}")',
            "E       ValueError: card declined for 42",
            "*The above exception was the direct cause of the following exception*",
            "E       docket_testing.helpers.TaskFailedInTest: task charge(42) key=* failed: "
            "ValueError: card declined for 42",
        ]
    )


ORDER_TESTS = """
from datetime import timedelta

from docket import CurrentDocket, Docket, Retry
from docket_testing import advance

order = []


async def note(label: str, docket: Docket = CurrentDocket()) -> None:
    order.append((label, docket.clock.now()))


async def shaky(
    label: str, retry: Retry = Retry(attempts=3, delay=timedelta(minutes=1))
) -> None:
    order.append((label, retry.attempt))
    if retry.attempt < 3:
        raise RuntimeError("again")


async def test_order(docket: Docket) -> None:
    start = docket.clock.now()
    for n in range(12):
        await docket.add(note, when=start + timedelta(minutes=n % 4))(f"note-{n}")
    await docket.add(note, when=start - timedelta(hours=1))("overdue")
    await docket.add(shaky)("shaky")
    runs = await advance(docket, timedelta(hours=1))
    print()  # -s output starts on the line of the test's progress dot
    for label, detail in order:
        offset = detail - start if isinstance(detail, type(start)) else detail
        print("RAN", label, offset)
    for run in runs:
        print("RUN", run.function_name, run.state.value, run.attempt)
"""


def test_the_same_test_runs_the_same_way_every_time(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(test_order=ORDER_TESTS)
    outputs = []
    for _ in range(2):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
        result.assert_outcomes(passed=1)
        outputs.append([line for line in result.outlines if line.startswith(("RAN ", "RUN "))])
    assert len(outputs[0]) == 2 * (12 + 1 + 3)
    assert outputs[0] == outputs[1]


def test_loads_and_explains_without_pytest_asyncio(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A directory that shadows pytest_asyncio with a module that cannot be
    # imported, as on a machine where it is not installed.
    shadow = pytester.mkdir("shadow")
    (shadow / "pytest_asyncio").mkdir()
    (shadow / "pytest_asyncio" / "__init__.py").write_text(
        "raise ImportError('No module named pytest_asyncio')\n"
    )
    pytester.makepyfile(
        test_plain="""
        def test_clock_works(clock):
            assert clock.now() is not None

        def test_docket_needs_pytest_asyncio(docket):
            pass
        """
    )
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*pytest-asyncio missing*",
            "*'docket' fixture is async and needs pytest-asyncio: pip install pytest-asyncio*",
        ]
    )


def test_rejects_an_unknown_url_scheme(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing(): pass")
    result = pytester.runpytest_subprocess("--docket-url", "http://localhost:6379")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--docket-url / docket_url must be one of*'http://localhost:6379'*"]
    )


def test_help_documents_the_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == pytest.ExitCode.OK
    output = textwrap.dedent(result.stdout.str())
    assert "--docket-url=URL" in output
    assert "docket_url" in output
