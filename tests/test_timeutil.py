"""The time helpers every module shares: UTC, millisecond truncation, epoch milliseconds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from docket.timeutil import (
    duration_ms,
    duration_seconds,
    epoch_ms,
    epoch_ms_ceiling,
    from_epoch_ms,
    truncate_to_ms,
    utc_ms,
)

PLUS_TWO = timezone(timedelta(hours=2))


def test_milliseconds_round_trip() -> None:
    for when in (
        datetime(1, 1, 1, tzinfo=timezone.utc),
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc),
        datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc),
    ):
        assert from_epoch_ms(epoch_ms(when)) == when
    with pytest.raises(ValueError, match="aware"):
        epoch_ms(datetime(2030, 1, 1))  # noqa: DTZ001


def test_epoch_milliseconds_round_down_or_up() -> None:
    when = datetime(2030, 1, 1, 0, 0, 0, 1500, tzinfo=timezone.utc)
    assert epoch_ms_ceiling(when) == epoch_ms(when) + 1
    assert epoch_ms_ceiling(truncate_to_ms(when)) == epoch_ms(when)
    with pytest.raises(ValueError, match="aware"):
        epoch_ms_ceiling(datetime(2030, 1, 1))  # noqa: DTZ001
    assert duration_ms(timedelta(seconds=1, microseconds=999)) == 1000


def test_truncation_keeps_the_zone_and_utc_ms_converts_it() -> None:
    when = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=PLUS_TWO)
    truncated = truncate_to_ms(when)
    assert truncated.microsecond == 123000 and truncated.tzinfo is PLUS_TWO
    stored = utc_ms(when)
    assert stored == truncated and stored.tzinfo is timezone.utc
    assert stored.hour == 10 and stored.microsecond == 123000
    aligned = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert truncate_to_ms(aligned) == aligned and utc_ms(aligned) == aligned


def test_durations_name_their_parameter() -> None:
    assert duration_seconds(timedelta(milliseconds=1500), "delay") == 1.5
    assert duration_seconds(2, "delay") == 2.0
    with pytest.raises(ValueError, match="delay must not be negative, got -1"):
        duration_seconds(-1, "delay")
    with pytest.raises(TypeError, match="interval must be a timedelta or seconds, got True"):
        duration_seconds(True, "interval")
