"""docket's web dashboard: an ASGI app (Starlette) to serve alone or mount in a web service.

``app(url=..., docket=NAME)`` or ``app(docket=a_docket)`` builds it; ``docket
dashboard`` serves it with uvicorn.  It needs the ``dashboard`` extra
(``pip install 'pydocket[dashboard]'``).  The modules, one job each:
``factory`` (the app and its page routes), ``source`` (the docket it reads
and its settings), ``queries`` (the view-model), ``history`` (endings seen),
``html`` and ``sections`` (escaped HTML), ``guard`` (auth, read-only, CSRF),
``actions`` (the POST actions) and ``live`` (server-sent events).
"""

from __future__ import annotations

from docket.dashboard.factory import Dashboard, app
from docket.dashboard.source import Authorize

__all__ = ["Authorize", "Dashboard", "app"]
