"""A ``--docket-url`` whose server cannot be reached stops the run once, in one line.

Each test runs a small project with pytest in a fresh process (pytester), as
a user's run would: the first test that asks for the ``docket`` fixture
stops the session (exit code 4) with one line naming the URL, its password
hidden, instead of every such test erroring with a traceback.  A run that
never asks for the fixture never connects, so it is not stopped.
"""

from __future__ import annotations

import os

import pytest

from conformance.redis_server import RedisUnavailable, free_port, start_redis_server

pytest_plugins = ["pytester"]

SECRET = "s3cret-do-not-show"

PROJECT = """
from docket import Docket, VirtualClock, Worker


def test_plain_first(clock: VirtualClock) -> None:
    assert clock.now() == clock.now()


async def test_one(docket: Docket) -> None:
    pass


async def test_two(docket: Docket, worker: Worker) -> None:
    pass


async def test_three(docket: Docket) -> None:
    pass
"""


def write_project(pytester: pytest.Pytester, tests: str = PROJECT) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_project=tests)


def down_url() -> str:
    """A Redis URL with a password, on a loopback port nothing listens on."""
    return f"redis://user:{SECRET}@127.0.0.1:{free_port()}/0"


def check_stopped_once(result: pytest.RunResult, expected_line: str) -> None:
    """Exit code 4, the one line (once), no tracebacks, no password, no test errors."""
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    stops = [line for line in result.outlines if "docket_testing: the docket fixture" in line]
    assert len(stops) == 1, output
    assert expected_line in stops[0], output
    assert SECRET not in output
    assert "Traceback" not in output and "Error 111" not in output.replace(stops[0], "")
    assert not [line for line in result.outlines if line.startswith("ERROR")], output
    for name in ("test_one", "test_two", "test_three"):
        assert f"{name} PASSED" not in output and f"{name} ERROR" not in output


def test_a_down_redis_stops_the_run_once_with_one_line(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    url = down_url()
    shown = url.replace(SECRET, "***")

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "--docket-url", url)

    check_stopped_once(result, f"cannot reach {shown}: ")
    result.stdout.fnmatch_lines(
        [
            f"docket_testing: docket fixture on {shown}",
            "*test_plain_first PASSED*",
            f"*docket_testing: the docket fixture cannot reach {shown}: *"
            "(URL from --docket-url / the docket_url ini value)*",
        ]
    )


def test_the_ini_value_is_checked_the_same_way(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    url = down_url()
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        f"docket_url = {url}\n"
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")

    check_stopped_once(result, f"cannot reach {url.replace(SECRET, '***')}: ")


def test_a_run_that_never_asks_for_the_docket_is_not_stopped(pytester: pytest.Pytester) -> None:
    write_project(pytester)

    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--docket-url", down_url(), "-k", "plain"
    )

    result.assert_outcomes(passed=1, deselected=3)
    assert "docket_testing: the docket fixture" not in result.stdout.str()


def test_an_overridden_docket_url_fixture_is_named(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    url = down_url()
    pytester.makeconftest(
        f"""
import pytest


@pytest.fixture
def docket_url() -> str:
    return {url!r}
"""
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")

    check_stopped_once(result, f"cannot reach {url.replace(SECRET, '***')}: ")
    assert "(URL from the docket_url fixture)" in result.stdout.str()


def test_refused_credentials_stop_the_run_naming_the_url(
    pytester: pytest.Pytester, redis_server_url: str
) -> None:
    write_project(pytester)
    # A real server, and a user it does not know.
    url = redis_server_url.replace("redis://", f"redis://nobody:{SECRET}@", 1)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "--docket-url", url)

    check_stopped_once(result, f"cannot authenticate to {url.replace(SECRET, '***')}: ")


LOSES_THE_SERVER = """
import redis.exceptions

from docket import Docket


async def test_shuts_the_server_down(docket: Docket) -> None:
    async with docket.redis() as client:
        try:
            await client.execute_command("SHUTDOWN", "NOSAVE")
        except redis.exceptions.ConnectionError:
            pass  # the server closes the connection as it goes


async def test_never_runs(docket: Docket) -> None:
    pass
"""


def test_a_server_lost_mid_run_fails_that_test_then_stops_the_run(
    pytester: pytest.Pytester,
) -> None:
    try:
        # Options force a server of this test's own (never DOCKET_TEST_REDIS_URL's).
        server = start_redis_server(extra_args=["--protected-mode", "yes"])
    except RedisUnavailable as error:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}:
            pytest.fail(f"CI must run the Redis tests, but no redis-server started: {error}")
        pytest.skip(f"no redis-server available: {error}")
    try:
        write_project(pytester, LOSES_THE_SERVER)
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "-v", "--docket-url", server.url
        )
    finally:
        server.stop()

    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    # The test that lost the server reports it (its docket could not be cleared) ...
    result.stdout.fnmatch_lines(["*test_shuts_the_server_down PASSED*", "*ERROR at teardown*"])
    # ... and the next one stops the run instead of erroring too.
    assert "test_never_runs PASSED" not in output
    assert "ERROR test_project.py::test_never_runs" not in output
    stops = [line for line in result.outlines if "docket_testing: the docket fixture" in line]
    assert len(stops) == 1 and f"cannot reach {server.url}: " in stops[0], output
