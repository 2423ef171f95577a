"""Showing docket URLs, and messages that may quote them, without their passwords."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["redact_url", "scrub"]


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs.

    That is the password of its user part and any query parameter whose name
    contains ``password`` (``sentinel_password``).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    # By the netloc's text, not parsed host and port: a sentinel URL lists
    # several hosts, which urlsplit cannot parse a port from.
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        parts = parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{hosts}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any("password" in name for name, _ in query):
        masked = [(name, "***" if "password" in name else value) for name, value in query]
        parts = parts._replace(query=urlencode(masked, safe="*"))
    # Unchanged when there is nothing to hide: urlunsplit would turn memory:// into memory:.
    return urlunsplit(parts) if parts != urlsplit(url) else url


def scrub(text: str, url: str | None) -> str:
    """``text`` with any password that ``url`` carries replaced by ``***``.

    A last line of defence for messages built by code that did not redact
    the URL itself (a client library quoting it): no password reaches a
    person.
    """
    if not url:
        return text
    secrets: set[str] = set()
    try:
        parts = urlsplit(url)
    except ValueError:
        return text
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        secrets.add(userinfo.partition(":")[2])
        secrets.add(unquote(userinfo.partition(":")[2]))
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if "password" in name:
            secrets.add(value)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
