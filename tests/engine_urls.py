"""A ``docket_url`` fixture that runs a test file's ``docket`` fixture on memory and on Redis.

Import it into a test module (``from tests.engine_urls import docket_url``) to
override the plugin's ``docket_url`` there: each test then runs twice, once on
the memory twin and once on the real ``redis-server`` the suite starts.
"""

from __future__ import annotations

import pytest

__all__ = ["docket_url"]


@pytest.fixture(params=["memory", "redis"])
def docket_url(request: pytest.FixtureRequest) -> str:
    """``memory://``, then the suite's real Redis."""
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue("redis_server_url")
    return url
