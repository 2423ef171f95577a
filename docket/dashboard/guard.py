"""Who may see the dashboard and who may act on it: read-only mode, the host's hook, CSRF.

Pages need only the host's ``authorize`` hook to agree (when there is one).
An action needs more: the dashboard must not be read-only; there must be a
hook, or the host must have opted in with ``allow_unauthenticated_actions``;
the hook must agree; and the request must come from the dashboard's own
page: its ``Origin`` (or ``Referer``), when the browser sends one, names
this host, and its form carries the dashboard's CSRF token.  Each refusal
is a ``Refused`` with the status and a sentence saying why.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

from docket.dashboard.source import Settings

__all__ = ["NO_HOOK", "READ_ONLY", "Refused", "check_action", "check_page"]

READ_ONLY = "This dashboard is read-only: actions are turned off."
NO_HOOK = (
    "Actions are refused: this dashboard has no authentication hook. The host application "
    "must pass authorize=<callable> to docket.dashboard.app(), or opt in with "
    "allow_unauthenticated_actions=True (docket dashboard --allow-unauthenticated-actions)."
)


class Refused(Exception):
    """A request the dashboard will not serve: ``status`` and the reason, for the person."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def check_page(request: Request, settings: Settings) -> None:
    """Refuse a page (403) the host's hook does not allow."""
    if not await settings.authorized(request):
        raise Refused(403, "Not authorized: the host application's authorize hook refused.")


def _same_origin(request: Request) -> bool:
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        # Without either header only the token vouches for the request.
        return True
    host = request.headers.get("host")
    return host is not None and urlsplit(claimed).netloc == host


async def check_action(request: Request, settings: Settings, token: str | None) -> None:
    """Refuse an action unless every condition in this module's docstring holds."""
    if settings.read_only:
        raise Refused(403, READ_ONLY)
    if settings.authorize is None and not settings.allow_unauthenticated_actions:
        raise Refused(403, NO_HOOK)
    await check_page(request, settings)
    if not _same_origin(request):
        raise Refused(403, "Refused: the action did not come from this dashboard's own page.")
    if token is None or not hmac.compare_digest(token.encode(), settings.csrf_token.encode()):
        raise Refused(
            403, "Refused: the form's CSRF token is missing or stale; reload the page and retry."
        )
