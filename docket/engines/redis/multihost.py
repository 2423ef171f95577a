"""Parsing the URLs that name several hosts (``redis+sentinel://``, ``redis+cluster://``).

``urlsplit`` cannot parse a port out of ``a:1,b:2``, so these read the
netloc's text themselves.  Errors name the URL with its password hidden.
Both take the TLS options of ``rediss://`` (``tls.py``) once ``ssl=true``
turns TLS on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from docket.engines.redis import tls
from docket.urls import redact_url

__all__ = ["MultiHostURL", "parse_multihost_url"]


@dataclass(frozen=True)
class MultiHostURL:
    """The parts of a multi-host URL; ``shown`` is the URL with its password hidden."""

    shown: str
    hosts: tuple[tuple[str, int], ...]
    path: list[str]
    username: str | None
    password: str | None
    options: dict[str, Any]


def parse_multihost_url(
    url: str,
    *,
    scheme: str,
    default_port: int,
    what: str,
    float_options: tuple[str, ...] = (),
    text_options: tuple[str, ...] = (),
) -> MultiHostURL:
    """Split ``url`` into credentials, ``(host, port)`` pairs, path pieces and options.

    ``what`` names the hosts in errors (``sentinels``, ``cluster nodes``).
    Options not in ``float_options`` or ``text_options`` are refused, except
    ``ssl`` (a boolean) and the TLS options, which need ``ssl=true``.
    """
    parts = urlsplit(url)
    shown = redact_url(url)
    if parts.scheme.lower() != scheme:
        raise ValueError(f"not a {scheme}:// URL: {shown!r}")
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    hosts = tuple(_host_port(shown, item, default_port, what) for item in hostlist.split(","))
    options: dict[str, Any] = {}
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        value = values[-1]
        if name in float_options:
            try:
                options[name] = float(value)
            except ValueError:
                raise ValueError(f"{name} in {shown!r} must be a number, got {value!r}") from None
        elif name in text_options:
            options[name] = value
        elif name == tls.TLS_SWITCH:
            options[name] = tls.parse_bool(name, value, shown)
        elif tls.looks_like_tls(name):
            options[name] = tls.parse_tls_option(name, value, shown)
        else:
            raise ValueError(
                f"unknown option {name!r} in {shown!r}; known: "
                + ", ".join((*float_options, *text_options, tls.TLS_SWITCH))
                + "; TLS options: "
                + ", ".join(tls.tls_options())
            )
    given = sorted(name for name in options if name in tls.tls_options())
    if given and not options.get(tls.TLS_SWITCH):
        # Certificates given for a plain connection would give a false sense of safety.
        raise ValueError(f"the TLS options {', '.join(given)} in {shown!r} need ssl=true")
    path = [piece for piece in parts.path.split("/") if piece]
    return MultiHostURL(shown, hosts, path, username, password, options)


def _host_port(shown: str, item: str, default_port: int, what: str) -> tuple[str, int]:
    host, colon, port = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise ValueError(f"{shown!r} must list {what} as host[:port],host[:port]...")
    if not colon:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"port {port!r} in {shown!r} is not a port number")
    return host, int(port)
