"""``app()``: the dashboard as a Starlette ASGI application, and its page routes.

Routes (relative to wherever the app is mounted): ``/`` the overview,
``/executions/{key}`` one execution, ``/events`` (``?key=`` for an
execution) the live stream, ``POST /actions/{name}`` the actions
(``docket.dashboard.actions``), ``/assets/...`` the script and stylesheet.
Every response says ``no-store`` and carries the pages' security headers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from docket.dashboard.actions import handle_action
from docket.dashboard.guard import Refused, check_page
from docket.dashboard.html import CSP, CSS, SCRIPT, page
from docket.dashboard.live import failure_body, refreshes
from docket.dashboard.queries import Queries
from docket.dashboard.sections import execution_body, overview_body, strike_form
from docket.dashboard.source import Authorize, DocketSource, Settings
from docket.docket import Docket
from docket.urls import scrub

__all__ = ["Dashboard", "app"]

logger = logging.getLogger("docket.dashboard")

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Dashboard(Starlette):
    """The dashboard's ASGI app; ``aclose()`` closes a docket it opened itself."""

    def __init__(self, source: DocketSource, settings: Settings) -> None:
        self.source = source
        self.settings = settings
        self.queries = Queries()

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            try:
                yield
            finally:
                await self.aclose()

        super().__init__(
            routes=[
                Route("/", self._guarded(self._overview), name="overview"),
                Route("/executions/{key:path}", self._guarded(self._execution), name="execution"),
                Route("/events", self._guarded(self._events), name="events"),
                Route("/actions/{action}", self._act, methods=["POST"], name="action"),
                Route("/assets/dashboard.js", self._script, name="script"),
                Route("/assets/dashboard.css", self._style, name="style"),
            ],
            lifespan=lifespan,
        )

    async def aclose(self) -> None:
        """Close the docket if the dashboard opened it (a host's own docket stays open)."""
        await self.source.aclose()

    def _guarded(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            try:
                await check_page(request, self.settings)
            except Refused as refused:
                return PlainTextResponse(refused.reason, refused.status, headers=HEADERS)
            response = await handler(request)
            response.headers.update(HEADERS)
            return response

        return guarded

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def _page(self, request: Request, title: str, body: str, events: str, still: str = "") -> str:
        query = request.query_params
        notice = self.settings.notice_of(query.get("notice"), query.get("signed"))
        base = self._base(request)
        return page(
            title,
            body,
            base=base,
            settings=self.settings,
            events=events,
            notice=notice,
            still=still,
        )

    async def _render_overview(self, base: str, max_age: float = 0.0) -> str:
        docket = await self.source.get()
        view = await self.queries.overview(docket, max_age=max_age)
        return overview_body(view, base, self.settings)

    async def _render_execution(self, base: str, key: str) -> str:
        docket = await self.source.get()
        return execution_body(await self.queries.execution(docket, key), base, self.settings)

    async def _overview(self, request: Request) -> Response:
        base = self._base(request)
        status = 200
        try:
            body = await self._render_overview(base)
        except Exception as error:
            body, status = self._failed(error), 503
        still = strike_form(base, self.settings)
        title = f"{self.settings.title}: {self.source.name}"
        return HTMLResponse(self._page(request, title, body, f"{base}/events", still), status)

    async def _execution(self, request: Request) -> Response:
        base = self._base(request)
        key = request.path_params["key"]
        status = 200
        try:
            body = await self._render_execution(base, key)
        except Exception as error:
            body, status = self._failed(error), 503
        events = f"{base}/events?key={quote(key, safe='')}"
        title = f"{self.settings.title}: {key}"
        return HTMLResponse(self._page(request, title, body, events), status)

    async def _events(self, request: Request) -> Response:
        base = self._base(request)
        key = request.query_params.get("key")

        def render() -> Awaitable[str]:
            if key:
                return self._render_execution(base, key)
            # Every open page's stream shares one look per half interval.
            return self._render_overview(base, self.settings.poll_interval / 2)

        try:
            docket = await self.source.get()
        except Exception as error:
            # The browser's EventSource tries again by itself.
            return HTMLResponse(self._failed(error), 503)
        stream = refreshes(render, docket.clock, self.settings.poll_interval, self._url())
        # A proxy must pass each event on at once rather than buffer the stream.
        headers = {"X-Accel-Buffering": "no"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    async def _act(self, request: Request) -> Response:
        return await handle_action(request, self.source, self.settings)

    async def _script(self, request: Request) -> Response:
        return Response(SCRIPT, media_type="text/javascript", headers=HEADERS)

    async def _style(self, request: Request) -> Response:
        return Response(CSS, media_type="text/css", headers=HEADERS)

    def _url(self) -> str:
        return self.source.url

    def _failed(self, error: Exception) -> str:
        logger.warning(
            "The dashboard could not read docket %r: %s",
            self.source.name,
            scrub(f"{type(error).__name__}: {error}", self._url()),
        )
        return failure_body(error, self._url())


def app(
    url: str | None = None,
    docket: Docket | str = "docket",
    *,
    tasks: Iterable[Callable[..., Any]] = (),
    read_only: bool = False,
    authorize: Authorize | None = None,
    allow_unauthenticated_actions: bool = False,
    poll_interval: float = 1.0,
    title: str = "docket",
    csrf_token: str | None = None,
) -> Dashboard:
    """The dashboard of a docket, as an ASGI app to serve or mount.

    Give ``docket``, an open ``Docket`` the host keeps open (then no
    ``url``), or a docket name and its ``url`` for the dashboard to open on
    its first request (``aclose()`` or the app's shutdown closes it) with
    ``tasks`` registered, so "run now" can schedule their calls again.
    ``read_only`` turns every action off.  ``authorize(request)`` (sync or
    async) says whether a request may see pages and take actions; without
    it actions are refused with 403 unless ``allow_unauthenticated_actions``
    is True.  ``poll_interval`` is how often, in seconds, live pages
    refresh; ``title`` heads every page; ``csrf_token`` (default: random
    per app) must be the same in every process serving one dashboard.
    """
    source = DocketSource(docket, url, tasks)
    settings = Settings(
        read_only=read_only,
        authorize=authorize,
        allow_unauthenticated_actions=allow_unauthenticated_actions,
        poll_interval=poll_interval,
        title=title,
    )
    if csrf_token is not None:
        settings = dataclasses.replace(settings, csrf_token=csrf_token)
    return Dashboard(source, settings)
