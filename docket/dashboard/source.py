"""Where the dashboard's docket comes from, and the settings its routes share.

``DocketSource`` hands every request the same open ``Docket``: one the host
application gave (the host opens and closes it), or one the dashboard opens
itself from a name and URL on the first request and closes on ``aclose``.
Opening lazily matters because Starlette does not run a mounted app's
lifespan, so a dashboard mounted in FastAPI never sees a startup event.
``Settings`` holds the choices made when the app was built.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from docket.docket import Docket

__all__ = ["Authorize", "DocketSource", "Settings"]

Authorize = Callable[[Request], "bool | Awaitable[bool]"]
"""The host's authentication hook: given the request, whether its user may act."""


@dataclass(frozen=True)
class Settings:
    """The dashboard's choices: what it may do, who may do it, how often it looks.

    ``csrf_token`` is a random value each page's forms carry; an action
    without it is refused, and another origin's page cannot read it.  It
    also signs the notices an action sends back, so a link from elsewhere
    cannot make the page say something.
    """

    read_only: bool = False
    authorize: Authorize | None = None
    allow_unauthenticated_actions: bool = False
    poll_interval: float = 1.0
    title: str = "docket"
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def __post_init__(self) -> None:
        for name in ("read_only", "allow_unauthenticated_actions"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.authorize is not None and not callable(self.authorize):
            raise TypeError(f"authorize must be a callable or None, got {self.authorize!r}")
        interval = self.poll_interval
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
            raise ValueError(
                f"poll_interval must be a positive number of seconds, got {interval!r}"
            )
        if not isinstance(self.title, str) or not self.title:
            raise ValueError(f"title must be a non-empty string, got {self.title!r}")
        if not isinstance(self.csrf_token, str) or len(self.csrf_token) < 16:
            raise ValueError("csrf_token must be a string of at least 16 characters")

    @property
    def actions_enabled(self) -> bool:
        """Whether actions can ever be taken (not read-only, and someone may be allowed)."""
        return not self.read_only and (
            self.authorize is not None or self.allow_unauthenticated_actions
        )

    def sign(self, notice: str) -> str:
        """The signature that lets a page show ``notice`` (so no one else's link can)."""
        digest = hmac.new(self.csrf_token.encode(), notice.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def notice_of(self, notice: str | None, signature: str | None) -> str | None:
        """``notice`` if the dashboard itself signed it, else None."""
        if notice is None or signature is None:
            return None
        return notice if hmac.compare_digest(self.sign(notice), signature) else None

    async def authorized(self, request: Request) -> bool:
        """What the host's hook says of ``request`` (True when there is no hook)."""
        if self.authorize is None:
            return True
        verdict = self.authorize(request)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        return bool(verdict)


class DocketSource:
    """The one ``Docket`` every request of a dashboard reads and acts on.

    Give ``docket`` (a ``Docket``, opened and closed by its owner), or a
    docket name and ``url`` for the dashboard to open on first use, with
    ``tasks`` registered (so "run now" can schedule their calls again).
    """

    def __init__(
        self,
        docket: Docket | str = "docket",
        url: str | None = None,
        tasks: Iterable[Callable[..., Any]] = (),
    ) -> None:
        if isinstance(docket, Docket):
            if url is not None:
                raise ValueError(
                    "url must be None when docket is a Docket instance (it has its own URL)"
                )
            if tasks:
                raise ValueError(
                    "tasks must be empty when docket is a Docket instance (register them on it)"
                )
            self._docket: Docket | None = docket
            self._owned = False
            self._name = docket.name
            self._url = docket.url
        elif isinstance(docket, str):
            if url is None:
                raise ValueError(f"url is required with docket={docket!r} (a docket name)")
            if not isinstance(url, str) or not url:
                raise ValueError(f"url must be a non-empty string, got {url!r}")
            # Built now so a bad name or URL fails when the app is made, not on a request.
            self._docket = Docket(name=docket, url=url)
            for function in tasks:
                self._docket.register(function)
            self._owned = True
            self._name = docket
            self._url = url
        else:
            raise TypeError(f"docket must be a Docket or a docket name, got {docket!r}")
        self._opened = False
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """The docket's name."""
        return self._name

    @property
    def url(self) -> str:
        """The docket's URL (scrubbed from anything the dashboard shows)."""
        return self._url

    async def get(self) -> Docket:
        """The docket, opened first if the dashboard owns it and has not yet opened it."""
        assert self._docket is not None
        if not self._owned or self._opened:
            return self._docket
        async with self._lock:
            if not self._opened:
                await self._docket.__aenter__()
                self._opened = True
        return self._docket

    async def aclose(self) -> None:
        """Close the docket if the dashboard opened it; a host's docket is left alone."""
        async with self._lock:
            if self._owned and self._opened and self._docket is not None:
                self._opened = False
                await self._docket.__aexit__(None, None, None)
