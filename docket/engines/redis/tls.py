"""The TLS options of Redis URLs: which there are, reading their values, and misspellings.

``rediss://`` URLs, and ``redis+sentinel://``/``redis+cluster://`` URLs with
``ssl=true``, take redis-py's TLS options as query parameters::

    rediss://redis.internal:6380/0?ssl_ca_certs=/etc/ssl/ca.pem
        &ssl_certfile=/etc/ssl/client.pem&ssl_keyfile=/etc/ssl/client.key

The options are those the installed redis-py's ``SSLConnection`` takes
(``ssl_ca_certs``, ``ssl_ca_path``, ``ssl_ca_data``, ``ssl_certfile``,
``ssl_keyfile``, ``ssl_password``, ``ssl_cert_reqs``, ``ssl_check_hostname``,
``ssl_min_version``, ``ssl_ciphers`` and the verify flags).  Certificates are
required and the host name is checked unless the URL says otherwise.  A
name that looks like a TLS option (``ssl...``, ``tls...``) but is none is
refused with the list of valid ones, rather than silently ignored or left
for redis-py to fail on when it first connects.
"""

from __future__ import annotations

import inspect
import ssl
from functools import cache
from typing import Any

from redis.asyncio.connection import SSLConnection

__all__ = ["TLS_SWITCH", "looks_like_tls", "parse_tls_option", "tls_options", "unknown_tls_option"]

TLS_SWITCH = "ssl"
"""The option that turns TLS on for sentinel and cluster URLs (``ssl=true``)."""

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}
_CERT_REQS = ("none", "optional", "required")
_VERSIONS = {
    "tlsv1_2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1_3": ssl.TLSVersion.TLSv1_3,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


@cache
def tls_options() -> tuple[str, ...]:
    """The TLS options a URL may carry: every ``ssl_*`` parameter of redis-py's SSLConnection."""
    parameters = inspect.signature(SSLConnection.__init__).parameters
    return tuple(sorted(name for name in parameters if name.startswith("ssl_")))


def looks_like_tls(name: str) -> bool:
    """Whether query parameter ``name`` was meant as a TLS option (valid or not)."""
    lowered = name.lower()
    return lowered.startswith(("ssl", "tls"))


def unknown_tls_option(name: str, shown: str) -> ValueError:
    """The error for TLS-looking option ``name`` that is none, listing the valid ones."""
    return ValueError(
        f"unknown TLS option {name!r} in {shown!r}; valid TLS options: " + ", ".join(tls_options())
    )


def parse_bool(name: str, value: str, shown: str) -> bool:
    """``value`` of option ``name`` as a boolean; ValueError naming both otherwise."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{name} in {shown!r} must be true or false, got {value!r}")


def parse_tls_option(name: str, value: str, shown: str) -> Any:
    """The value redis-py takes for TLS option ``name``, read from the URL's text ``value``.

    ValueError (naming the option, the URL with its passwords hidden and,
    except for ``ssl_password``, the value) for an unknown option or a value
    it cannot take.
    """
    if name not in tls_options():
        raise unknown_tls_option(name, shown)
    if name == "ssl_check_hostname":
        return parse_bool(name, value, shown)
    if name == "ssl_cert_reqs":
        if value.lower() not in _CERT_REQS:
            raise ValueError(
                f"ssl_cert_reqs in {shown!r} must be one of {', '.join(_CERT_REQS)}, got {value!r}"
            )
        return value.lower()
    if name == "ssl_min_version":
        version = _VERSIONS.get(value.strip().lower())
        if version is None:
            raise ValueError(
                f"ssl_min_version in {shown!r} must be TLSv1_2 or TLSv1_3, got {value!r}"
            )
        return version
    if name in ("ssl_include_verify_flags", "ssl_exclude_verify_flags"):
        flags = []
        for flag in value.replace("[", "").replace("]", "").split(","):
            if not hasattr(ssl.VerifyFlags, flag.strip()):
                raise ValueError(
                    f"{name} in {shown!r} must list ssl.VerifyFlags names, got {flag.strip()!r}"
                )
            flags.append(getattr(ssl.VerifyFlags, flag.strip()))
        return flags
    # Paths, PEM text, cipher strings and the key's password are taken as written.
    return value
