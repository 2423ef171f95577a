"""The engine registry (``docket.engines``): the one place that knows the URL schemes.

It opens and checks URLs, places test dockets, discards storage and turns an
engine's storage errors into docket's own; the CLI and docket_testing ask it
and import no engine module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from redis import exceptions as redis_errors

from docket.engines import (
    SCHEMES,
    check_url,
    discard_storage,
    open_engine,
    per_test_url,
    scheme_list,
    scheme_of,
    storage_error,
)
from docket.errors import InvalidURL, StorageRefused, StorageUnavailable

ROOT = Path(__file__).resolve().parent.parent


def test_every_scheme_is_listed_once_with_its_engine() -> None:
    names = [scheme.name for scheme in SCHEMES]
    assert names == ["memory", "redis", "rediss", "redis+sentinel", "redis+cluster", "fakeredis"]
    assert scheme_list() == ", ".join(name + "://" for name in names)
    in_process = {scheme.name for scheme in SCHEMES if scheme.in_process}
    assert in_process == {"memory", "fakeredis"}
    assert [scheme.name for scheme in SCHEMES if not scheme.server] == ["memory"]
    assert {scheme.name: scheme.engine for scheme in SCHEMES}["fakeredis"] == "redis"
    assert scheme_of("REDIS://h/0") is scheme_of("redis://h/0")
    assert scheme_of("http://h") is None and scheme_of("nowhere") is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("nowhere", "expected scheme://..., one of memory://, redis://"),
        ("http://:s3cret@h", "scheme 'http' is not supported; use one of memory://"),
        ("redis://:s3cret@h:abc/0", "Port could not be cast"),
        ("redis+sentinel://:s3cret@h1:26379", "must name the service"),
        ("redis+cluster://:s3cret@h1:7000/1", "only database 0"),
    ],
)
def test_a_url_no_engine_opens_is_refused_naming_it(url: str, reason: str) -> None:
    with pytest.raises(InvalidURL) as raised:
        check_url(url, label="--url")
    assert isinstance(raised.value, ValueError)
    assert str(raised.value).startswith(f"invalid --url {raised.value.url!r}: ")
    assert reason in raised.value.reason
    assert "s3cret" not in str(raised.value)
    with pytest.raises(InvalidURL, match="invalid url"):
        open_engine(url, "d")


def test_a_url_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidURL, match="expected a string like scheme://..., got int"):
        check_url(5)  # type: ignore[arg-type]


def test_an_in_process_location_is_only_a_name() -> None:
    for url in ("memory://a:b", "fakeredis://a:b", "redis://h:6379/0", "redis+cluster://a,b:2"):
        assert check_url(url) == url


def test_a_test_docket_gets_its_own_memory_store() -> None:
    assert per_test_url("memory://", "n") == "memory://n"
    assert per_test_url("MEMORY:///", "n") == "memory://n"
    assert per_test_url("memory://shared", "n") == "memory://shared"
    assert per_test_url("fakeredis://", "n") == "fakeredis://"
    with pytest.raises(InvalidURL, match="scheme 'http'"):
        per_test_url("http://h", "n")


async def test_discarding_needs_a_known_scheme() -> None:
    with pytest.raises(InvalidURL, match="scheme 'http'"):
        await discard_storage("http://h", "n")


def test_storage_errors_become_dockets_own_naming_the_url_redacted() -> None:
    url = "redis://me:s3cret@h:1/0"
    lost = redis_errors.ConnectionError("Error 111 connecting to h:1 (s3cret)")
    unavailable = storage_error(lost, url)
    assert isinstance(unavailable, StorageUnavailable)
    assert (
        str(unavailable) == "cannot reach redis://me:***@h:1/0: Error 111 connecting to h:1 (***)"
    )
    assert unavailable.url == "redis://me:***@h:1/0" and unavailable.__cause__ is lost

    refused = redis_errors.AuthenticationError("invalid password")
    denied = storage_error(refused, url)
    assert isinstance(denied, StorageUnavailable)
    assert str(denied).startswith("cannot authenticate to redis://me:***@h:1/0")

    reply = redis_errors.ResponseError("WRONGTYPE Operation against a key")
    answered = storage_error(reply, None)
    assert isinstance(answered, StorageRefused)
    assert str(answered) == (
        "the docket's server refused a command: ResponseError: WRONGTYPE Operation against a key"
    )
    assert answered.url is None and answered.__cause__ is reply

    assert storage_error(ValueError("not storage"), url) is None
    assert storage_error(ConnectionError("not an engine's"), url) is None


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, including ``from x import y`` as ``x.y``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize(
    "path",
    sorted([*(ROOT / "docket" / "cli").glob("*.py"), *(ROOT / "docket_testing").glob("*.py")]),
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_the_cli_and_docket_testing_ask_the_registry(path: Path) -> None:
    """No engine module and no redis-py exception type: the registry answers for them."""
    forbidden = [
        module
        for module in imported_modules(path)
        if module.startswith(("docket.engines.memory", "docket.engines.redis"))
        or module.split(".")[:2] == ["redis", "exceptions"]
    ]
    assert forbidden == []
