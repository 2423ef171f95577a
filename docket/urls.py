"""Showing docket URLs, and messages that may quote them, without their passwords.

A URL's secrets are the password of its user part and every query parameter
whose name contains ``password`` (``password``, ``sentinel_password``,
``ssl_password``).  Both functions find them by the URL's text as well as by
parsing it, so a URL too malformed to parse (no scheme, a broken IPv6 host)
is hidden just the same.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["redact_url", "scrub", "url_secrets"]

HIDDEN = "***"


def _authority(url: str) -> tuple[int, int]:
    """Where the netloc of ``url`` starts and ends, found by text alone."""
    scheme_end = url.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    end = len(url)
    for stop in "/?#":
        found = url.find(stop, start)
        if found >= 0:
            end = min(end, found)
    return start, end


def _password_span(url: str) -> tuple[int, int] | None:
    """The position of the user part's password in ``url``, if it has one."""
    start, end = _authority(url)
    # By the netloc's text, not parsed host and port: a sentinel URL lists
    # several hosts, which urlsplit cannot parse a port from; and the last @
    # ends the user part (a password may contain an unescaped @).
    at = url.rfind("@", start, end)
    if at < 0:
        return None
    colon = url.find(":", start, at)
    if colon < 0:
        return None
    return colon + 1, at


def _query(url: str) -> str:
    try:
        return urlsplit(url).query
    except ValueError:
        _, _, query = url.partition("?")
        return query.partition("#")[0]


def url_secrets(url: str) -> set[str]:
    """Every secret ``url`` carries, as written and percent-decoded (empty ones left out)."""
    found: set[str] = set()
    span = _password_span(url)
    if span is not None:
        written = url[span[0] : span[1]]
        found |= {written, unquote(written)}
    for pair in _query(url).split("&"):
        name, _, written = pair.partition("=")
        if "password" in unquote(name).lower():
            # As written, as a query parser decodes it, and percent-decoded only.
            decoded = parse_qsl(pair, keep_blank_values=True)
            found |= {written, unquote(written), *(value for _, value in decoded)}
    return {secret for secret in found if secret}


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs.

    That is the password of its user part and any query parameter whose name
    contains ``password`` (``sentinel_password``, ``ssl_password``).
    """
    if not isinstance(url, str):
        return url
    shown = url
    span = _password_span(shown)
    if span is not None:
        shown = shown[: span[0]] + HIDDEN + shown[span[1] :]
    # The query by its text too, so that the rest of the URL stays exactly as written.
    mark = shown.find("?")
    if mark < 0:
        return shown
    query, hash_mark, fragment = shown[mark + 1 :].partition("#")
    pairs = []
    for pair in query.split("&"):
        name, equals, _value = pair.partition("=")
        hidden = equals and "password" in unquote(name).lower()
        pairs.append(f"{name}={HIDDEN}" if hidden else pair)
    return shown[: mark + 1] + "&".join(pairs) + hash_mark + fragment


def scrub(text: str, url: str | None) -> str:
    """``text`` with any password that ``url`` carries replaced by ``***``.

    A last line of defence for messages built by code that did not redact
    the URL itself (a client library quoting it): no password reaches a
    person.
    """
    if not url or not isinstance(url, str):
        return text
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text
