"""``redis+sentinel://`` and ``redis+cluster://`` URLs: parsed, or refused by the Docket.

Both are read by ``docket/engines/redis/multihost.py``; a malformed one is
refused when the Docket is built, naming the URL with its password hidden.
"""

from __future__ import annotations

import pytest

from docket import Docket
from docket.engines.redis.cluster import parse_cluster_url
from docket.engines.redis.sentinel import parse_sentinel_url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://:s3cret@h1:26379", "must name the service"),
        ("redis+sentinel://h1:26379/a/b/c", "must name the service"),
        ("redis+sentinel://h1:notaport/mymaster", "'notaport' in"),
        ("redis+sentinel://h1:26379,:1/mymaster", "must list sentinels"),
        ("redis+sentinel://h1/mymaster/zero", "must be a number, got 'zero'"),
        ("redis+sentinel://h1/mymaster?socket_timeout=soon", "socket_timeout"),
        ("redis+sentinel://h1/mymaster?color=blue", "unknown option 'color'"),
        ("redis+cluster://:s3cret@h1:7000/1", "only database 0"),
        ("redis+cluster://h1:port/", "'port' in"),
        ("redis+cluster://h1:7000,:7001", "must list cluster nodes"),
        ("redis+cluster://h1?socket_timeout=soon", "socket_timeout"),
        ("redis+cluster://h1?db=2", "unknown option 'db'"),
    ],
)
def test_a_malformed_url_is_refused_by_the_docket(url: str, message: str) -> None:
    scheme = url.partition("://")[0]
    with pytest.raises(ValueError, match=scheme.replace("+", "\\+") + "://") as raised:
        Docket("bad", url=url)
    assert message in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_a_sentinel_url_is_parsed() -> None:
    target = parse_sentinel_url(
        "redis+sentinel://me:p%40ss@a:1,b,c:3/orders/2?socket_timeout=1.5&sentinel_password=x"
    )
    assert target.sentinels == (("a", 1), ("b", 26379), ("c", 3))
    assert (target.service, target.db) == ("orders", 2)
    assert (target.username, target.password) == ("me", "p@ss")
    assert target.options == {"socket_timeout": 1.5, "sentinel_password": "x"}


def test_a_cluster_url_is_parsed() -> None:
    target = parse_cluster_url("redis+cluster://me:p%40ss@a:7000,b/0?socket_timeout=2")
    assert target.nodes == (("a", 7000), ("b", 6379))
    assert (target.username, target.password) == ("me", "p@ss")
    assert target.options == {"socket_timeout": 2.0}
