"""Time values without a clock: UTC, millisecond truncation, epoch milliseconds, durations.

Storage keeps times at whole milliseconds in UTC (Redis as integer
milliseconds since the Unix epoch, the memory twin as datetimes truncated the
same way), so a time that has been through storage compares equal to one
truncated here.  Every module that rounds, converts or checks a time value
does it with these helpers; reading the time or sleeping is ``clock.py``'s
job, and nothing here does either.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = [
    "EPOCH",
    "MILLISECOND",
    "duration_ms",
    "duration_seconds",
    "epoch_ms",
    "epoch_ms_ceiling",
    "from_epoch_ms",
    "truncate_to_ms",
    "utc",
    "utc_ms",
]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""The Unix epoch, the zero of stored millisecond timestamps."""

MILLISECOND = timedelta(milliseconds=1)
"""The resolution storage keeps."""


def utc(when: datetime) -> datetime:
    """Return ``when`` converted to UTC; it must already be timezone-aware."""
    return when.astimezone(timezone.utc)


def truncate_to_ms(when: datetime) -> datetime:
    """``when`` without its sub-millisecond part, which storage does not keep (same zone)."""
    micros = when.microsecond
    # Most times reaching storage are already whole milliseconds: skip the copy.
    if micros % 1000:
        return when.replace(microsecond=micros - micros % 1000)
    return when


def utc_ms(when: datetime) -> datetime:
    """``when`` in UTC, truncated to whole milliseconds: the value storage keeps."""
    if when.tzinfo is not timezone.utc:
        when = when.astimezone(timezone.utc)
    return truncate_to_ms(when)


def epoch_ms(when: datetime) -> int:
    """``when`` as whole milliseconds since the epoch, rounded down; ``when`` must be aware."""
    if when.tzinfo is None:
        raise ValueError(f"datetimes must be timezone-aware, got {when!r}")
    return (when - EPOCH) // MILLISECOND


def epoch_ms_ceiling(when: datetime) -> int:
    """``when`` as whole milliseconds since the epoch, rounded up; ``when`` must be aware."""
    if when.tzinfo is None:
        raise ValueError(f"datetimes must be timezone-aware, got {when!r}")
    return -((EPOCH - when) // MILLISECOND)


def from_epoch_ms(ms: int) -> datetime:
    """The aware UTC datetime ``ms`` milliseconds after the epoch."""
    return EPOCH + timedelta(milliseconds=ms)


def duration_ms(duration: timedelta) -> int:
    """``duration`` in whole milliseconds, rounded down."""
    return duration // MILLISECOND


def duration_seconds(value: timedelta | float | int, parameter: str) -> float:
    """Seconds in ``value``, a timedelta or a number of seconds.

    A TypeError names ``parameter`` when ``value`` is not a duration, a
    ValueError when it is negative.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{parameter} must be a timedelta or seconds, got {value!r}")
    if seconds < 0:
        raise ValueError(f"{parameter} must not be negative, got {value!r}")
    return seconds
