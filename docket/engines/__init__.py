"""The one registry of docket URL schemes: open an engine, check a URL, discard, name errors.

Which schemes exist, which engine serves each and where its data lives is
the table in ``schemes.py``.  Everything that needs to know asks here:
``Docket`` and ``StrikeList`` open engines, the CLI checks URLs and reports
storage errors, docket_testing places and discards test dockets.  None of
them imports an engine module; an engine's modules are imported only when a
URL of theirs is opened, checked or discarded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from docket.engines.base import ENGINE_OPERATIONS, Engine
from docket.engines.schemes import (
    MEMORY,
    SCHEMES,
    Scheme,
    scheme_list,
    scheme_name,
    scheme_of,
)
from docket.errors import InvalidURL, StorageError
from docket.urls import redact_url

__all__ = [
    "ENGINE_OPERATIONS",
    "SCHEMES",
    "Engine",
    "Scheme",
    "check_url",
    "discard_storage",
    "open_engine",
    "scheme_list",
    "scheme_of",
    "storage_error",
    "per_test_url",
]


def check_url(url: str, *, label: str = "url") -> str:
    """Return ``url`` if an engine can open it; raise ``InvalidURL`` (a ValueError) if not.

    Checks what can be known without connecting: the ``scheme://...`` shape,
    a supported scheme, a port that parses (on a server other processes
    reach; an in-process URL's location is only a name), and whatever the
    scheme's engine refuses (a sentinel URL without a service, say).  The message names the
    URL as ``label``, with its passwords hidden.
    """
    _checked_scheme(url, label)
    return url


def open_engine(url: str, name: str, *, credential_provider: Any | None = None) -> Engine:
    """Build (but do not connect) the engine that serves docket ``name`` at ``url``.

    ``url`` is checked first (see ``check_url``).  ``credential_provider`` (a
    redis-py ``CredentialProvider``) supplies the Redis credentials in place
    of any in the URL; in-process engines have no use for one.
    """
    scheme = _checked_scheme(url, "url")
    if scheme.engine == "memory":
        from docket.engines.memory import MemoryEngine

        return MemoryEngine.for_url(url, name)
    from docket.engines.redis import RedisEngine

    return RedisEngine(url, name, credential_provider=credential_provider)


async def discard_storage(url: str, name: str, *, credential_provider: Any | None = None) -> None:
    """Delete everything stored for docket ``name`` at ``url`` (for throwaway test dockets).

    Only for a name no one else uses: on Redis it deletes every key under the
    docket's hash tag; on ``memory://`` it forgets the docket's store.
    """
    scheme = _checked_scheme(url, "url")
    if scheme.engine == "memory":
        from docket.engines.memory import discard_store

        discard_store(url, name)
    else:
        from docket.engines.redis.discard import discard_keys

        await discard_keys(url, name, credential_provider)


def per_test_url(base_url: str, name: str) -> str:
    """The URL a throwaway test docket named ``name`` opens for ``base_url``.

    A bare ``memory://`` becomes ``memory://NAME``, the docket's own store;
    any other URL is used as it is (the unique name keeps dockets apart).
    ``base_url`` is checked first (see ``check_url``).
    """
    scheme = _checked_scheme(base_url, "url")
    if scheme is MEMORY and base_url.rstrip("/").lower() == "memory:":
        return f"memory://{name}"
    return base_url


def storage_error(error: BaseException, url: str | None = None) -> StorageError | None:
    """Docket's own error for ``error`` if it is an engine's storage error, else None.

    A lost or refused connection becomes ``StorageUnavailable``, an error
    reply ``StorageRefused``; the message names ``url`` with its passwords
    hidden (or "the docket's server" without one), quotes ``error`` with any
    password of ``url`` scrubbed, and ``error`` is its ``__cause__``.  Only
    the Redis engine has such errors (on ``memory://`` too, from the user
    data client), so it is the one asked.
    """
    from docket.engines.redis.errors import storage_error as redis_storage_error

    return redis_storage_error(error, url)


def _checked_scheme(url: str, label: str) -> Scheme:
    """The scheme of ``url`` after every check ``check_url`` makes."""
    if not isinstance(url, str):
        raise InvalidURL(
            repr(url), f"expected a string like scheme://..., got {type(url).__name__}", label=label
        )
    shown = redact_url(url)
    if "://" not in url:
        raise InvalidURL(shown, f"expected scheme://..., one of {scheme_list()}", label=label)
    scheme = scheme_of(url)
    if scheme is None:
        raise InvalidURL(
            shown,
            f"scheme {scheme_name(url)!r} is not supported; use one of {scheme_list()}",
            label=label,
        )
    try:
        # The engine first: it reads the hosts of a multi-host URL itself,
        # and says more about them than a generic port check can.
        if scheme.engine == "redis":
            from docket.engines.redis.connections import check_url as check_redis_url

            check_redis_url(url)
        if not scheme.in_process:
            _check_port(url)
    except ValueError as error:
        raise InvalidURL(shown, str(error), label=label) from None
    return scheme


def _check_port(url: str) -> None:
    """ValueError if ``url`` names one host whose port does not parse."""
    parts = urlsplit(url)
    # A netloc listing several hosts (sentinels, cluster nodes) has no
    # single port to parse; the engine checks each.
    if "," not in parts.netloc:
        parts.port  # noqa: B018 - parsing the port is the check
