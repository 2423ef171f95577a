"""The dashboard's small parts: value parsing, durations, signed notices, shared looks, history.

The looks run on memory and on a real Redis (``docket_url``); the rest
needs no docket.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from docket import Docket, VirtualClock
from docket.dashboard.actions import parse_value
from docket.dashboard.history import History
from docket.dashboard.html import duration, moment
from docket.dashboard.queries import Queries
from docket.dashboard.source import Settings
from tests import engine_urls

pytest.importorskip("starlette")

docket_url = engine_urls.docket_url  # memory://, then the suite's real Redis


async def hello(name: str) -> None:
    """Scheduled for later."""


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("1.5", 1.5),
        ("'42'", "42"),
        ("true", True),
        ("False", False),
        ("None", None),
        ("acme corp", "acme corp"),
        ("[1, 2]", "[1, 2]"),  # a list is not hashable: kept as the text
    ],
)
def test_strike_values_read_as_literals_when_they_are(text: str, value: object) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.25, "250ms"), (42, "42s"), (185, "3m 5s"), (7800, "2h 10m"), (97200, "1d 3h"), (-5, "5s")],
)
def test_durations_read_shortly(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_moments_say_how_far_and_which_way() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert ">in 5m<" in moment(now + timedelta(minutes=5), now)
    assert ">12s ago<" in moment(now - timedelta(seconds=12), now)
    assert moment(None, now) == "—"


def test_only_the_dashboard_can_sign_a_notice() -> None:
    settings = Settings()
    other = Settings()
    signature = settings.sign("Cancelled x.")
    assert settings.notice_of("Cancelled x.", signature) == "Cancelled x."
    assert settings.notice_of("Cancelled y.", signature) is None
    assert other.notice_of("Cancelled x.", signature) is None
    assert settings.notice_of("Cancelled x.", None) is None


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"poll_interval": -1}, "poll_interval"),
        ({"title": ""}, "title"),
        ({"csrf_token": "x"}, "csrf_token"),
    ],
)
def test_bad_settings_are_refused_naming_them(options: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Settings(**options)  # type: ignore[arg-type]


async def test_open_pages_share_one_look_per_interval(docket: Docket) -> None:
    assert isinstance(docket.clock, VirtualClock)
    queries = Queries()
    first = await queries.overview(docket, max_age=10)
    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key="new")("x")
    assert await queries.overview(docket, max_age=10) is first
    fresh = await queries.overview(docket, max_age=0)
    assert [e.key for e in fresh.future] == ["new"]
    docket.clock.advance(timedelta(seconds=10))
    assert await queries.overview(docket, max_age=10) is not fresh


async def test_history_reads_how_vanished_work_ended(docket: Docket) -> None:
    history = History()
    later = docket.clock.now() + timedelta(hours=1)
    await docket.add(hello, when=later, key="a")("x")
    await docket.add(hello, when=later, key="b")("y")
    await history.observe(docket, await docket.snapshot())
    await docket.cancel("a")
    await history.observe(docket, await docket.snapshot())
    assert history.failures() == []
    rates = history.rates(docket.clock.now())
    assert list(rates) == [("hello", "cancelled")]
    assert rates[("hello", "cancelled")] == pytest.approx(1.0)  # one, over at least a minute
