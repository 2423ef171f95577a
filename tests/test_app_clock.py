"""docket_testing's application clock: the wall clock following a VirtualClock.

Application code that schedules from ``datetime.now()`` lands off virtual
time, and ``advance`` misses its work; with ``follow_virtual_clock`` (the
``app_clock`` fixture, the ``docket_app_clock`` marker or ini setting) every
wall-clock reading follows the docket's clock and ``advance`` finds it.  The
scenario tests run in this process (on the memory twin and a real Redis); the
switch's defaults, the ini setting and a missing time-machine are checked in
fresh pytest processes (pytester), as a user's project sees them.
"""

# Naive and local readings of the wall clock are what application code does; they are tested.
# ruff: noqa: DTZ002, DTZ003, DTZ005, DTZ006, DTZ011

from __future__ import annotations

import asyncio
import os
import sys
import time
import warnings
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine

from docket import Docket, SystemClock, VirtualClock
from docket_testing import (
    advance,
    assert_not_scheduled,
    assert_scheduled,
    follow_virtual_clock,
    open_docket,
)
from docket_testing.app_clock import INSTALL_HINT, app_clock_wanted
from tests import engine_urls

docket_url = engine_urls.docket_url  # memory://, then the suite's real Redis


pytest_plugins = ["pytester"]

# In the past, so wall-clock work (now + 30 days) lands far after virtual work.
START = datetime(2020, 1, 1, 9, 0, 0, 250000, tzinfo=timezone.utc)

sent: list[str] = []
ran_at: list[float] = []


async def send_reminder(user: str) -> None:
    sent.append(user)


async def sign_up(docket: Docket, user: str) -> None:
    """The application: it takes "now" from the wall clock, not from docket.clock."""
    in_30_days = datetime.now(timezone.utc) + timedelta(days=30)
    await docket.add(send_reminder, when=in_30_days, key=f"remind-{user}")(user)


async def stamp() -> None:
    ran_at.append(time.time())


# Wall time minus boot time, read at import: time-machine never moves CLOCK_BOOTTIME.
_BOOT = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def real_now() -> datetime:
    """The real wall clock, whether or not anything is travelling."""
    return datetime.fromtimestamp(_BOOT + time.clock_gettime(time.CLOCK_BOOTTIME), timezone.utc)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=START)


@pytest.fixture(autouse=True)
def nothing_sent() -> None:
    sent.clear()
    ran_at.clear()


# --- the failure it fixes, and the fix ------------------------------------------------------


# advance may warn about work due just after its target; here that is the point.
MISSES = pytest.mark.filterwarnings("ignore:advance stopped at")


@MISSES
async def test_without_the_switch_advance_misses_work_scheduled_from_the_wall_clock(
    docket: Docket,
) -> None:
    await sign_up(docket, "ann")

    await advance(docket, timedelta(days=30))

    assert sent == []
    await assert_not_scheduled(docket, send_reminder, when=START + timedelta(days=30))
    await assert_scheduled(docket, send_reminder, args=("ann",))


@MISSES
async def test_a_few_real_milliseconds_are_enough_to_miss_it() -> None:
    # The issue as users meet it: the clock starts at the current time, and
    # the application reads the wall clock a few milliseconds later.
    async with open_docket("memory://", clock=VirtualClock()) as docket:
        await asyncio.sleep(0.005)
        await sign_up(docket, "bo")
        await advance(docket, timedelta(days=30))
        assert sent == []

    sent.clear()
    clock = VirtualClock()
    async with open_docket("memory://", clock=clock) as docket:
        with follow_virtual_clock(clock):
            await asyncio.sleep(0.005)
            await sign_up(docket, "bo")
            await advance(docket, timedelta(days=30))
        assert sent == ["bo"]


@pytest.mark.docket_app_clock
async def test_with_the_marker_advance_finds_it(docket: Docket) -> None:
    await sign_up(docket, "ann")
    await assert_scheduled(docket, send_reminder, args=("ann",), when=START + timedelta(days=30))

    await advance(docket, timedelta(days=29))
    assert sent == []
    await advance(docket, timedelta(days=1))
    assert sent == ["ann"]


async def test_with_the_fixture_work_sees_its_virtual_instant(
    docket: Docket, app_clock: VirtualClock, clock: VirtualClock
) -> None:
    assert app_clock is clock
    await docket.add(stamp, when=START + timedelta(hours=1))()
    await docket.add(stamp, when=START + timedelta(days=2))()

    await advance(docket, timedelta(days=3))

    assert ran_at == [
        (START + timedelta(hours=1)).timestamp(),
        (START + timedelta(days=2)).timestamp(),
    ]
    assert time.time() == (START + timedelta(days=3)).timestamp()


@pytest.mark.docket_app_clock(False)
def test_the_marker_can_say_off(clock: VirtualClock) -> None:
    assert abs(datetime.now(timezone.utc) - real_now()) < timedelta(minutes=1)


def test_the_switch_is_off_by_default(clock: VirtualClock) -> None:
    # Runs after tests that turned it on: nothing of theirs is left behind.
    assert not time_machine.escape_hatch.is_travelling()
    assert abs(datetime.now(timezone.utc) - real_now()) < timedelta(minutes=1)
    assert abs(SystemClock().now() - real_now()) < timedelta(minutes=1)


# --- what follows the clock, and what does not -----------------------------------------------


def test_every_wall_clock_reading_follows_the_clock() -> None:
    clock = VirtualClock(start=START)
    with follow_virtual_clock(clock) as followed:
        assert followed is clock
        for expected in (START, START + timedelta(days=30, milliseconds=7)):
            if expected != START:
                clock.advance_to(expected)
            local = datetime.fromtimestamp(expected.timestamp())
            assert datetime.now(timezone.utc) == expected
            assert datetime.now() == local
            assert datetime.today() == local
            assert date.today() == local.date()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # utcnow, from 3.12
                assert datetime.utcnow() == expected.replace(tzinfo=None)
            assert time.time() == pytest.approx(expected.timestamp(), abs=1e-6)
            expected_ns = int(expected.timestamp()) * 10**9 + expected.microsecond * 1000
            assert abs(time.time_ns() - expected_ns) < 1000  # time-machine 2 goes through floats
            assert time.gmtime()[:6] == expected.timetuple()[:6]
            assert time.strftime("%Y-%m-%d") == local.strftime("%Y-%m-%d")


def test_time_stands_still_between_moves() -> None:
    clock = VirtualClock(start=START)
    with follow_virtual_clock(clock):
        before = time.time()
        time.sleep(0.01)
        assert time.time() == before
        clock.advance(timedelta(seconds=90))
        assert time.time() == before + 90


async def test_asyncio_runs_on_real_monotonic_time() -> None:
    clock = VirtualClock(start=START)
    loop = asyncio.get_running_loop()
    with follow_virtual_clock(clock):
        loop_before, monotonic_before = loop.time(), time.monotonic()
        await asyncio.sleep(0.02)
        assert loop.time() - loop_before >= 0.02
        assert time.monotonic() - monotonic_before >= 0.02
        assert await asyncio.wait_for(asyncio.sleep(0.01, result="on time"), timeout=5) == "on time"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.sleep(5), timeout=0.01)
        assert time.time() == START.timestamp()


def test_leaving_restores_the_wall_clock_and_stops_following() -> None:
    clock = VirtualClock(start=START)
    with follow_virtual_clock(clock):
        pass
    clock.advance(timedelta(days=1))
    assert not time_machine.escape_hatch.is_travelling()
    assert abs(datetime.now(timezone.utc) - real_now()) < timedelta(minutes=1)


def test_the_local_time_zone_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "XYZ-3")  # POSIX: three hours east of UTC, no tzdata needed
    time.tzset()
    try:
        with follow_virtual_clock(VirtualClock(start=START)):
            assert os.environ["TZ"] == "XYZ-3"
            assert datetime.now() == START.replace(tzinfo=None) + timedelta(hours=3)
            assert datetime.now(timezone.utc) == START
    finally:
        monkeypatch.undo()
        time.tzset()


def test_only_a_virtual_clock_can_be_followed() -> None:
    with pytest.raises(
        TypeError, match=r"clock must be a docket.VirtualClock, got SystemClock\(\)"
    ):
        with follow_virtual_clock(SystemClock()):  # type: ignore[arg-type]
            pass
    assert not time_machine.escape_hatch.is_travelling()


def test_without_time_machine_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "time_machine", None)
    with pytest.raises(ModuleNotFoundError) as missing:
        with follow_virtual_clock(VirtualClock(start=START)):
            pass
    assert str(missing.value) == INSTALL_HINT
    assert "pip install 'pydocket[timemachine]'" in INSTALL_HINT


def test_the_marker_decides_before_the_ini_and_checks_its_argument(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\ndocket_app_clock = true\n"
    )
    items = pytester.getitems(
        """
        import pytest

        def test_unmarked(): pass

        @pytest.mark.docket_app_clock(enabled=False)
        def test_off(): pass

        @pytest.mark.docket_app_clock("yes")
        def test_bad(): pass
        """
    )
    unmarked, off, bad = items
    assert app_clock_wanted(unmarked) is True
    assert app_clock_wanted(off) is False
    with pytest.raises(TypeError, match=r"docket_app_clock's enabled must be a bool, got 'yes'"):
        app_clock_wanted(bad)


# --- the switch in a user's project (fresh pytest processes) ---------------------------------

PROJECT_APP = """
from datetime import datetime, timedelta, timezone

sent = []


async def send_reminder(user):
    sent.append(user)


async def sign_up(docket, user):
    in_30_days = datetime.now(timezone.utc) + timedelta(days=30)
    await docket.add(send_reminder, when=in_30_days, key=f"remind-{user}")(user)
"""

PROJECT_TESTS = """
import time
from datetime import datetime, timedelta, timezone

import pytest

from docket import SystemClock
from docket_testing import advance
from app import sent, sign_up


# Wall time minus boot time, read at import: time-machine never moves CLOCK_BOOTTIME.
REAL_OFFSET = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def wall_is_real():
    for wall in (time.time(), SystemClock().now().timestamp()):
        if abs(wall - time.clock_gettime(time.CLOCK_BOOTTIME) - REAL_OFFSET) > 60:
            return False
    return True


async def test_unmarked(docket):
    sent.clear()
    await sign_up(docket, "ann")
    await advance(docket, timedelta(days=30))
    print("UNMARKED", "found" if sent == ["ann"] else "missed", wall_is_real())


@pytest.mark.docket_app_clock
async def test_marked(docket, clock):
    sent.clear()
    assert abs(time.time() - clock.now().timestamp()) < 1e-6
    await sign_up(docket, "bea")
    await advance(docket, timedelta(days=30))
    assert sent == ["bea"]


@pytest.mark.docket_app_clock(False)
def test_marked_off(clock):
    assert wall_is_real()


def test_after_the_others(clock):
    assert wall_is_real()
"""

START_IN_THE_PAST = """
from datetime import datetime, timezone

import pytest

from docket import VirtualClock


@pytest.fixture
def clock():
    return VirtualClock(start=datetime(2020, 1, 1, tzinfo=timezone.utc))
"""


def write_project(pytester: pytest.Pytester, *ini_lines: str, conftest: str = "") -> None:
    settings = ["asyncio_mode = auto", "asyncio_default_fixture_loop_scope = function"]
    pytester.makeini("[pytest]\n" + "\n".join([*settings, *ini_lines]) + "\n")
    pytester.makepyfile(app=PROJECT_APP, test_app=PROJECT_TESTS)
    pytester.makeconftest(START_IN_THE_PAST + conftest)


def test_in_a_project_the_switch_is_off_unless_asked_for(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "--strict-markers")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*UNMARKED missed True*"])


def test_the_ini_setting_turns_it_on_for_every_test(pytester: pytest.Pytester) -> None:
    write_project(pytester, "docket_app_clock = true")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "--strict-markers")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*UNMARKED found False*", "FAILED test_app.py::test_after_the_others*"]
    )


def test_without_time_machine_a_switched_on_test_fails_in_one_line(
    pytester: pytest.Pytester,
) -> None:
    hide = "\nimport sys\n\nsys.modules['time_machine'] = None  # as if not installed\n"
    write_project(pytester, conftest=hide)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    # A fixture that fails is an error at setup; the switched-off tests still pass.
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*UNMARKED missed True*", "*ERROR at setup of test_marked*"])
    assert INSTALL_HINT in result.outlines
    assert "Traceback" not in result.stdout.str()
