"""The pytest plugin (entry point ``docket_testing``): fixtures for code that uses docket.

Installed with docket, it is active in every pytest run and provides:

``clock``       a ``VirtualClock`` that moves when told (``advance``), or when a
                worker would only wait for it (``skip_idle_time``);
``docket``      a ``Docket`` with a name unique to the test, driven by ``clock``;
                its storage is discarded when the test ends;
``worker``      a ``Worker`` on ``docket`` (one run at a time), entered for the test;
``docket_url``  the base URL ``docket`` opens (override it to choose engines);
``app_clock``   ``clock``, with ``datetime.now()``, ``time.time()`` ... following it
                (also the marker and ini ``docket_app_clock``; see ``app_clock.py``).

By default ``docket`` lives on the in-memory twin (``memory://``).  The
command-line option ``--docket-url URL`` (or the ini value ``docket_url``)
runs the same fixtures on another engine: a real Redis (``redis://...``) or
the Redis engine over in-process fakeredis (``fakeredis://...``).  Either way
``clock`` drives it, because every engine takes "now" from the docket's clock.
A server that cannot be reached stops the run at the first test that asks
for ``docket``, with one line naming the URL (passwords hidden).

``docket`` and ``worker`` are async fixtures and need pytest-asyncio (auto
mode, or strict mode with tests marked ``@pytest.mark.asyncio``).  Without
pytest-asyncio the plugin still loads; those two fixtures then fail the tests
that ask for them with a message saying what to install.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from docket.engines import check_url, scheme_list
from docket.errors import InvalidURL, StorageUnavailable
from docket.urls import redact_url

if TYPE_CHECKING:
    from docket import Docket, VirtualClock, Worker

try:
    import pytest_asyncio
except ImportError:  # the plugin must load (and say what is missing) without it
    pytest_asyncio = None  # type: ignore[assignment]

__all__ = ["DEFAULT_URL", "clock", "configured_url", "docket", "docket_url", "worker"]

# The application clock (fixture, marker, ini setting) is a plugin module of its own.
pytest_plugins = ["docket_testing.app_clock"]

DEFAULT_URL = "memory://"
"""The engine the fixtures use unless ``--docket-url`` or ``docket_url`` says otherwise."""

_NEEDS_PYTEST_ASYNCIO = (
    "docket_testing's {name!r} fixture is async and needs pytest-asyncio: "
    "pip install pytest-asyncio, then set asyncio_mode = auto (or mark async tests "
    "@pytest.mark.asyncio)"
)

F = TypeVar("F", bound=Callable[..., Any])


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--docket-url`` and its ini twin ``docket_url``."""
    group = parser.getgroup("docket", "docket testing (docket_testing plugin)")
    group.addoption(
        "--docket-url",
        dest="docket_url",
        default=None,
        metavar="URL",
        help=(
            "engine for the docket fixture: memory:// (default), redis://host:port/db "
            "or fakeredis://NAME; overrides the docket_url ini value"
        ),
    )
    parser.addini(
        "docket_url",
        help="engine URL for the docket fixture (see --docket-url); default memory://",
        default="",
    )


def configured_url(config: pytest.Config) -> str:
    """The base URL from ``--docket-url``, else the ``docket_url`` ini value, else memory://."""
    option = config.getoption("docket_url", default=None)
    if option:
        return str(option)
    ini = config.getini("docket_url")
    if isinstance(ini, str) and ini.strip():
        return ini.strip()
    return DEFAULT_URL


def pytest_configure(config: pytest.Config) -> None:
    """Reject a ``--docket-url`` no engine opens before any test runs."""
    try:
        check_url(configured_url(config))
    except InvalidURL as error:
        raise pytest.UsageError(
            f"--docket-url / docket_url must be one of {scheme_list()}; "
            f"got {error.url!r} ({error.reason})"
        ) from None


def pytest_report_header(config: pytest.Config) -> str:
    """Say which engine the docket fixture runs on (passwords hidden)."""
    url = redact_url(configured_url(config))
    extra = "" if pytest_asyncio is not None else " (pytest-asyncio missing: async fixtures off)"
    return f"docket_testing: docket fixture on {url}{extra}"


def _async_fixture(function: F) -> F:
    """An async fixture through pytest-asyncio, or a stand-in that explains its absence."""
    if pytest_asyncio is not None:
        return cast(F, pytest_asyncio.fixture(function))
    name = function.__name__

    def missing(request: pytest.FixtureRequest) -> Any:
        pytest.fail(_NEEDS_PYTEST_ASYNCIO.format(name=name), pytrace=False)

    missing.__name__ = name
    missing.__doc__ = function.__doc__
    return cast(F, pytest.fixture(name=name)(missing))


@pytest.fixture(scope="session")
def docket_url(request: pytest.FixtureRequest) -> str:
    """The base URL the ``docket`` fixture opens.

    ``--docket-url``, else the ``docket_url`` ini value, else ``memory://``.
    Override this fixture (a parametrised one, say) in a ``conftest.py`` to
    run tests on several engines; pass it to ``open_docket`` where a test
    needs dockets of its own (once per Hypothesis example, for instance).
    """
    return configured_url(request.config)


@pytest.fixture
def clock() -> VirtualClock:
    """A ``VirtualClock`` starting at the current time (whole milliseconds).

    It moves when ``advance``/``advance_to`` (or the ``advance`` helper) is
    called, and when a worker on it would only wait for it (time skipping;
    see ``VirtualClock``).  Override this fixture to start at a fixed
    instant, or with ``VirtualClock(skip_idle_time=False)`` to move time
    only by hand while a worker runs in the background.
    """
    from docket import VirtualClock

    return VirtualClock()


@_async_fixture
async def docket(
    clock: VirtualClock, docket_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Docket]:
    """A ``Docket`` with a unique name on ``docket_url``, driven by ``clock``.

    When the test ends its pending work is cleared and its storage (the
    memory store, or every Redis key of the docket) is deleted.  If its
    storage cannot be reached (a Redis that is down), the whole run stops
    at once, exit code 4, with one line naming the URL, passwords hidden.
    """
    from docket_testing.dockets import open_docket

    entered = False
    try:
        async with open_docket(docket_url, clock=clock) as opened:
            entered = True
            yield opened
    except StorageUnavailable as error:
        if entered:  # lost during the test: that test's own failure
            raise
        # Every later test would fail the same way, each with a traceback:
        # one line, once, says it better (exit code 4, as for a bad URL).
        pytest.exit(
            _unreachable_reason(error, docket_url, request.config),
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def _unreachable_reason(error: StorageUnavailable, url: str, config: pytest.Config) -> str:
    """The one line that stops a run whose ``docket`` fixture cannot reach ``url``.

    It quotes ``error`` (whose message already hides passwords) and says
    where the URL came from, on a single line.
    """
    source = (
        "--docket-url / the docket_url ini value"
        if url == configured_url(config)
        else "the docket_url fixture"
    )
    return " ".join(f"docket_testing: the docket fixture {error} (URL from {source})".split())


@_async_fixture
async def worker(docket: Docket) -> AsyncIterator[Worker]:
    """A ``Worker`` on ``docket`` running one execution at a time, entered for the test.

    Pass it to ``run_due``/``advance`` (``worker=``) to run work with its
    configuration; it does not claim anything by itself.  Leaving the test
    stops it after any running work.
    """
    from docket import Worker

    async with Worker(docket, concurrency=1) as entered:
        yield entered
