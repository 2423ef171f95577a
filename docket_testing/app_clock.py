"""Application clocks that follow the docket's virtual clock (through time-machine).

A test's docket runs on a ``VirtualClock``, but application code often reads
the wall clock itself: ``datetime.now(timezone.utc) + timedelta(days=30)``
lands a few real milliseconds (or, with a fixed start, years) off virtual
time, and ``advance(docket, timedelta(days=30))`` then misses it.  This
module owns the switch under which ``datetime.now()``, ``datetime.utcnow()``,
``datetime.today()``, ``date.today()``, ``time.time()``, ``time.time_ns()``,
``time.localtime()``, ``time.gmtime()`` and ``time.strftime()`` read the
virtual clock instead, using time-machine (the optional extra
``pydocket[timemachine]``):

``follow_virtual_clock(clock)``   a context manager, for any ``VirtualClock``;
``app_clock``                     a fixture: the ``clock`` fixture, followed;
``@pytest.mark.docket_app_clock`` turns it on for a test, class or module
                                  (``docket_app_clock(False)`` turns it off);
``docket_app_clock = true``       the ini setting that turns it on for every test.

It is off by default.  Monotonic time (``time.monotonic()``,
``time.perf_counter()``, the event loop's ``loop.time()``) is never touched,
so asyncio sleeps and timeouts keep working on real time.

This module is a pytest plugin of its own, loaded by ``docket_testing.plugin``.
It imports neither docket nor time-machine until a test turns the switch on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from docket import VirtualClock

__all__ = [
    "INI",
    "INSTALL_HINT",
    "MARKER",
    "app_clock",
    "app_clock_switch",
    "app_clock_wanted",
    "follow_virtual_clock",
    "pytest_addoption",
    "pytest_configure",
]

MARKER = "docket_app_clock"
"""The marker that turns the application clock on (or, with ``False``, off) for a test."""

INI = "docket_app_clock"
"""The ini setting (a bool, default false) that turns the application clock on for every test."""

INSTALL_HINT = (
    "docket_testing's application clock (docket_app_clock / app_clock) needs time-machine: "
    "pip install 'pydocket[timemachine]'"
)
"""The one line a test fails with when the switch is on and time-machine is not installed."""


class _VirtualUTC(tzinfo):
    """UTC, but not ``timezone.utc``.

    time-machine 3 also sets the process's ``TZ`` to ``UTC`` while travelling
    to a datetime whose zone is ``timezone.utc``.  The virtual clock fixes an
    instant, not a time zone: local time (naive ``datetime.now()``,
    ``time.localtime()``) must stay in the machine's zone, as in production.
    """

    def utcoffset(self, when: datetime | None) -> timedelta:
        return timedelta(0)

    def dst(self, when: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, when: datetime | None) -> str:
        return "UTC"

    def __repr__(self) -> str:
        return "_VirtualUTC()"


_VIRTUAL_UTC = _VirtualUTC()


@contextmanager
def follow_virtual_clock(clock: VirtualClock) -> Iterator[VirtualClock]:
    """Make the process's wall clock read ``clock`` until the block ends; yields ``clock``.

    On entry the wall clock jumps to ``clock.now()`` and stands still there
    (time-machine's ``tick=False``); each ``advance``/``advance_to`` of
    ``clock`` moves it along before any sleeper wakes, so work that runs at a
    virtual instant sees that instant from ``datetime.now()`` too.  The local
    time zone is left as it is.  Monotonic clocks are not touched.  On exit
    the wall clock is real again and ``clock`` is no longer followed.

    Blocks nest like time-machine travels (the innermost wins; leave them in
    reverse order).  ``clock`` must be a ``docket.VirtualClock``
    (``TypeError`` otherwise); without time-machine installed this raises
    ``ModuleNotFoundError`` with ``INSTALL_HINT``.
    """
    from docket import VirtualClock

    if not isinstance(clock, VirtualClock):
        raise TypeError(f"clock must be a docket.VirtualClock, got {clock!r}")
    try:
        import time_machine
    except ImportError:
        raise ModuleNotFoundError(INSTALL_HINT, name="time_machine") from None

    travel = time_machine.travel(clock.now().astimezone(_VIRTUAL_UTC), tick=False)
    traveller = travel.start()

    def follow(now: datetime) -> None:
        traveller.move_to(now.astimezone(_VIRTUAL_UTC))

    try:
        stop_following = clock.on_move(follow)
        try:
            yield clock
        finally:
            stop_following()
    finally:
        travel.stop()


def app_clock_wanted(item: pytest.Item) -> bool:
    """Whether ``item`` runs with the application clock on by marker or ini setting.

    The closest ``docket_app_clock`` marker decides (no argument or ``True``:
    on; ``False``: off); without one, the ``docket_app_clock`` ini value does.
    Requesting the ``app_clock`` fixture turns it on whatever this says.  A
    marker argument that is not a bool raises ``TypeError`` naming it.
    """
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return bool(item.config.getini(INI))
    if marker.kwargs.keys() - {"enabled"} or len(marker.args) + len(marker.kwargs) > 1:
        raise TypeError(
            f"@pytest.mark.{MARKER} takes one argument, enabled (a bool); "
            f"got args={marker.args!r} kwargs={marker.kwargs!r}"
        )
    enabled = marker.args[0] if marker.args else marker.kwargs.get("enabled", True)
    if not isinstance(enabled, bool):
        raise TypeError(f"@pytest.mark.{MARKER}'s enabled must be a bool, got {enabled!r}")
    return enabled


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ini setting ``docket_app_clock`` (a bool, default false)."""
    parser.addini(
        INI,
        type="bool",
        default=False,
        help=(
            "make datetime.now(), time.time(), date.today() ... follow the docket's "
            "virtual clock in every test (needs time-machine: pydocket[timemachine])"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``docket_app_clock`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(enabled=True): datetime.now(), time.time(), date.today() ... in this "
        "test follow the docket's virtual clock (needs time-machine: pydocket[timemachine])",
    )


@pytest.fixture
def app_clock(clock: VirtualClock) -> Iterator[VirtualClock]:
    """The ``clock`` fixture, with the process's wall clock following it for the test.

    ``datetime.now()``, ``time.time()``, ``date.today()`` and friends read
    ``clock.now()`` and move with every ``advance``, so application code that
    schedules from the wall clock lands on virtual time.  Fails the test with
    one line saying what to install when time-machine is missing.
    """
    try:
        import time_machine  # noqa: F401  (only to say what is missing, in one line)
    except ImportError:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with follow_virtual_clock(clock):
        yield clock


@pytest.fixture(autouse=True, name="_docket_app_clock_switch")
def app_clock_switch(request: pytest.FixtureRequest) -> None:
    """Turn the application clock on for tests marked ``docket_app_clock`` or under the ini.

    Autouse, so the wall clock follows virtual time before the test's other
    fixtures are set up; it asks for nothing (not even ``clock``) when the
    switch is off.
    """
    if app_clock_wanted(request.node):
        request.getfixturevalue("app_clock")
