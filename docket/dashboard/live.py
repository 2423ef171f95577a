"""Live updates: a stream of server-sent events that re-renders a page's live region.

Every ``poll_interval`` (on the docket's clock) the stream renders the body
of the page it was opened for and sends it as one ``refresh`` event whose
data is ``{"html": ...}`` on a single line; the page's script swaps it in.
A look that fails (the server is down) sends a body saying so instead,
with the URL's password scrubbed, and the stream carries on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from docket.clock import Clock
from docket.dashboard.html import text
from docket.urls import scrub

__all__ = ["event", "failure_body", "refreshes"]

logger = logging.getLogger("docket.dashboard")

RETRY_MILLISECONDS = 3000
"""How long a browser waits before it reopens a dropped stream."""


def event(body: str) -> bytes:
    """One ``refresh`` event carrying ``body``."""
    return f"event: refresh\ndata: {json.dumps({'html': body})}\n\n".encode()


def failure_body(error: BaseException, url: str) -> str:
    """What the live region shows when the docket cannot be read."""
    said = scrub(f"{type(error).__name__}: {error}", url)
    return f'<p class="banner down">Cannot read the docket right now: {text(said)}</p>'


async def refreshes(
    render: Callable[[], Awaitable[str]], clock: Clock, interval: float, url: str
) -> AsyncIterator[bytes]:
    """A ``refresh`` event now and after every ``interval`` seconds, until the client leaves."""
    yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
    while True:
        try:
            body = await render()
        except Exception as error:
            logger.warning("The dashboard could not read its docket: %s", scrub(str(error), url))
            body = failure_body(error, url)
        yield event(body)
        await clock.sleep(interval)
