"""The checks of ``Worker``'s arguments: each refusal names the parameter and the value."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from docket.timeutil import duration_seconds

__all__ = [
    "aware_or_none",
    "default_worker_name",
    "duration",
    "flag",
    "iteration_bounds",
    "optional_count",
    "positive_duration",
    "positive_int",
]


def default_worker_name() -> str:
    """``hostname#pid``, unique per process on a host."""
    return f"{socket.gethostname()}#{os.getpid()}"


def positive_duration(value: timedelta, parameter: str) -> timedelta:
    """``value`` as a timedelta if it is a positive duration."""
    if duration_seconds(value, parameter) <= 0:
        raise ValueError(f"{parameter} must be positive, got {value!r}")
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def duration(value: timedelta, parameter: str) -> timedelta:
    """``value`` as a timedelta if it is a duration of zero or more."""
    if duration_seconds(value, parameter) < 0:
        raise ValueError(f"{parameter} must not be negative, got {value!r}")
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def positive_int(value: Any, parameter: str) -> int:
    """``value`` if it is an integer of at least 1 (a bool is not)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{parameter} must be a positive integer, got {value!r}")
    return value


def optional_count(value: Any, parameter: str, *, least: int) -> int | None:
    """``value`` if it is None or an integer of at least ``least`` (a bool is not)."""
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or value < least
    ):
        kind = "positive" if least == 1 else "non-negative"
        raise ValueError(f"{parameter} must be None or a {kind} integer, got {value!r}")
    return value


def flag(value: Any, parameter: str) -> bool:
    """``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{parameter} must be a bool, got {value!r}")
    return value


def aware_or_none(value: Any, parameter: str) -> datetime | None:
    """``value`` if it is None or a timezone-aware datetime."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{parameter} must be a datetime or None, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{parameter} must be timezone-aware, got {value!r}")
    return value


def iteration_bounds(bounds: Mapping[str, int]) -> dict[str, int]:
    """``run_at_most``'s bounds, each a non-negative integer (a bool is not)."""
    for name, bound in bounds.items():
        if not isinstance(bound, int) or isinstance(bound, bool) or bound < 0:
            raise ValueError(
                f"the bound for {name!r} must be a non-negative integer, got {bound!r}"
            )
    return dict(bounds)
