"""The names a docket's storage takes, and the names left for user data beside it.

Every key of docket ``NAME`` starts with its hash tag ``{NAME}:`` (one
cluster slot, one ACL pattern).  The engine's own keys are the fixed names in
``SYSTEM_KEYS`` and everything under ``SYSTEM_PREFIXES``; users keep their
own data under the same prefix on any other name (``user_key``).  The Redis
key layout (``redis/keys.py``) is built from these names, and both engines
refuse user keys on them through ``user_key``, so the list lives only here.
"""

from __future__ import annotations

__all__ = [
    "DEBOUNCE",
    "GATES",
    "PARKED",
    "RUNS",
    "SLOTS",
    "SYSTEM_KEYS",
    "SYSTEM_PREFIXES",
    "docket_prefix",
    "user_key",
]

SYSTEM_KEYS: tuple[str, ...] = (
    "stream",
    "future",
    "queue",
    "leases",
    "holders",
    "generation",
    "wake",
    "dead",
    "workers",
    "workers-seen",
    "strikes",
)
"""The fixed names of a docket's own keys, after its prefix."""

RUNS = "runs:"
"""Execution records: one key per task key."""
GATES = "gates:"
"""Sliding windows of Cooldown and RateLimit gates."""
DEBOUNCE = "debounce:"
"""Debounce gates."""
SLOTS = "slots:"
"""ConcurrencyLimit slots."""
PARKED = "parked:"
"""Runs parked at a ConcurrencyLimit gate."""

SYSTEM_PREFIXES: tuple[str, ...] = (RUNS, GATES, DEBOUNCE, SLOTS, PARKED)
"""The name prefixes of a docket's own keys, after its prefix."""


def docket_prefix(name: str) -> str:
    """``{name}:``, the start of every key of docket ``name``."""
    return "{" + name + "}:"


def user_key(name: str, suffix: object) -> str:
    """The full name of user key ``suffix`` beside docket ``name``'s own keys.

    ValueError naming ``suffix`` when it is not a non-empty string, or when
    the key would be (or fall under) one of the docket's own.
    """
    if not isinstance(suffix, str) or not suffix:
        raise ValueError(f"a user key suffix must be a non-empty string, got {suffix!r}")
    if suffix in SYSTEM_KEYS or suffix.startswith(SYSTEM_PREFIXES):
        raise ValueError(
            f"the user key suffix {suffix!r} names one of the docket's own keys; "
            f"choose a name other than {', '.join(SYSTEM_KEYS)} "
            f"or one starting {', '.join(SYSTEM_PREFIXES)}"
        )
    return docket_prefix(name) + suffix
