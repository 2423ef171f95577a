"""Turning redis-py's exceptions into docket's own storage errors.

The CLI (and anything else that reports storage trouble to a person) asks
the registry, ``docket.engines.storage_error``, which asks here; only this
module knows redis-py's exception types for that purpose.
"""

from __future__ import annotations

from redis import exceptions as redis_errors

from docket.errors import StorageError, StorageRefused, StorageUnavailable
from docket.urls import redact_url, scrub

__all__ = ["storage_error"]


def storage_error(error: BaseException, url: str | None) -> StorageError | None:
    """Docket's own error for a redis-py ``error`` (None for any other), naming ``url`` redacted.

    Authentication failures, lost connections and timeouts are
    ``StorageUnavailable``; any other redis-py error is an error reply,
    ``StorageRefused``.  ``error`` becomes the ``__cause__``.
    """
    if not isinstance(error, redis_errors.RedisError):
        return None
    shown = redact_url(url) if url else None
    where = shown or "the docket's server"
    said = scrub(str(error), url)
    translated: StorageError
    # AuthenticationError is a ConnectionError in redis-py: ask it first.
    if isinstance(error, redis_errors.AuthenticationError):
        translated = StorageUnavailable(f"cannot authenticate to {where}: {said}", url=shown)
    elif isinstance(error, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
        translated = StorageUnavailable(f"cannot reach {where}: {said}", url=shown)
    else:
        translated = StorageRefused(
            f"{where} refused a command: {type(error).__name__}: {said}", url=shown
        )
    translated.__cause__ = error
    return translated
