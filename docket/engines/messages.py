"""What every engine checks of a ``TaskMessage`` or ``Settlement`` before it stores one.

Both engines refuse the same malformed messages and settlements with the
same ValueError, at the call that received them, instead of storing
something another engine would have refused (or a worker could not read
back).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from docket.engines.records import Settlement, TaskMessage

__all__ = ["check_message", "check_settlement"]


def check_message(message: TaskMessage) -> None:
    """ValueError naming the field of ``message`` that is malformed, if any."""
    if not isinstance(message, TaskMessage):
        raise ValueError(f"expected a TaskMessage, got {message!r}")
    key = message.key
    if not isinstance(key, str):
        raise ValueError(f"a message's key must be a string, got {key!r}")
    if not isinstance(message.function_name, str):
        raise ValueError(
            f"the message for key {key!r} needs a string function_name, "
            f"got {message.function_name!r}"
        )
    if not isinstance(message.payload, bytes):
        raise ValueError(
            f"the message for key {key!r} needs a bytes payload, "
            f"got {type(message.payload).__name__}"
        )
    when = message.when
    zone = when.tzinfo if isinstance(when, datetime) else None
    # Most messages are in UTC: skip asking the zone for its offset then.
    if zone is None or (zone is not timezone.utc and when.utcoffset() is None):
        raise ValueError(
            f"the message for key {key!r} needs a timezone-aware datetime when, got {when!r}"
        )
    attempt = message.attempt
    if type(attempt) is not int or attempt < 1:
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            raise ValueError(
                f"the message for key {key!r} needs an attempt of 1 or more, got {attempt!r}"
            )
    headers = message.headers
    if type(headers) is not dict and not isinstance(headers, Mapping):
        raise ValueError(
            f"the message for key {key!r} needs headers mapping strings to strings, got {headers!r}"
        )
    if headers and not all(
        isinstance(name, str) and isinstance(value, str) for name, value in headers.items()
    ):
        raise ValueError(
            f"the message for key {key!r} needs headers mapping strings to strings, got {headers!r}"
        )


def check_settlement(settlement: Settlement) -> None:
    """ValueError for a settlement that neither ends nor reschedules its own key.

    A settlement without ``reschedule`` must end in a terminal state, and
    only a rescheduling one may wait for a slot (``wait_for``); one that
    reschedules must reschedule its own key.
    """
    retry = settlement.reschedule
    if retry is None:
        if not settlement.state.is_terminal:
            raise ValueError(f"a settlement must end in a terminal state, got {settlement.state}")
        if settlement.wait_for is not None:
            raise ValueError("a settlement can only wait for a slot when it reschedules")
    elif retry.key != settlement.key:
        raise ValueError(
            f"a settlement may only reschedule its own key {settlement.key!r}, got {retry.key!r}"
        )
