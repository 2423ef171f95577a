"""``docket worker --healthcheck-port``: an HTTP health check that means something.

``HealthMonitor`` runs in the worker's event loop and asks the engine a
cheap question (``counts``) every ``interval``.  The HTTP server, in its own
thread, answers any GET with 200 only while

* the worker is claiming work (started, and not told to stop),
* its claim loop is healthy (``Worker.healthy``: running, its last claim
  reached storage), and
* the last probe succeeded, no more than ``stale_after`` ago;

and with 503 otherwise: the server is unreachable, the event loop is stuck
(probes stop landing), or the worker is shutting down.  The body is a small
JSON object saying which.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from docket.cli.metrics import DEFAULT_HOST
from docket.cli.support import CLIError
from docket.clock import Clock, SystemClock
from docket.docket import Docket
from docket.racing import until_deadline

__all__ = ["HealthMonitor", "HealthServer", "start_health_server"]

logger = logging.getLogger("docket.cli")


class HealthMonitor:
    """Whether a worker can reach its engine and is claiming work, kept current by ``run``."""

    def __init__(
        self,
        docket: Docket,
        worker_name: str,
        *,
        clock: Clock | None = None,
        interval: float = 1.0,
        stale_after: float = 5.0,
        claim_loop_healthy: Callable[[], bool] | None = None,
    ) -> None:
        self.docket = docket
        self.worker_name = worker_name
        self.clock: Clock = clock or SystemClock()
        self.interval = interval
        self.stale_after = stale_after
        self.claim_loop_healthy = claim_loop_healthy
        self.claiming = False
        self._last_ok: float | None = None
        self._problem: str | None = "not checked yet"

    async def probe(self) -> None:
        """Ask the engine one question and remember whether it answered in time."""
        clock = self.clock
        try:
            await until_deadline(
                self.docket.engine.counts(clock.now()),
                clock,
                clock.now() + timedelta(seconds=self.stale_after),
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._last_ok = None
            self._problem = f"engine unreachable: {type(error).__name__}: {error}"
        else:
            self._last_ok = clock.monotonic()
            self._problem = None

    async def run(self) -> None:
        """Probe every ``interval`` until cancelled."""
        while True:
            await self.probe()
            await self.clock.sleep(self.interval)

    def status(self) -> tuple[bool, dict[str, Any]]:
        """``(healthy, details)``; safe to call from another thread."""
        last_ok, problem = self._last_ok, self._problem
        if problem is None and last_ok is not None:
            age = self.clock.monotonic() - last_ok
            if age > self.stale_after:
                problem = f"no successful engine check for {age:.1f}s"
        if problem is None and not self.claiming:
            problem = "not claiming work (starting or shutting down)"
        healthy = self.claim_loop_healthy
        if problem is None and healthy is not None and not healthy():
            problem = "claim loop not healthy (not running, or every claim failing)"
        details: dict[str, Any] = {
            "status": "ok" if problem is None else "unavailable",
            "docket": self.docket.name,
            "worker": self.worker_name,
        }
        if problem is not None:
            details["problem"] = problem
        return problem is None, details


class _Handler(BaseHTTPRequestHandler):
    monitor: HealthMonitor

    def _respond(self, body: bool) -> None:
        healthy, details = self.monitor.status()
        payload = json.dumps(details).encode() + b"\n"
        self.send_response(200 if healthy else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._respond(body=True)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._respond(body=False)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("healthcheck: " + format, *args)


class HealthServer:
    """Serves ``monitor``'s verdict on ``host`` and ``port`` from a daemon thread."""

    def __init__(self, monitor: HealthMonitor, port: int, host: str = DEFAULT_HOST) -> None:
        handler = type("HealthHandler", (_Handler,), {"monitor": monitor})
        server_class = type(
            "HealthHTTPServer",
            (ThreadingHTTPServer,),
            {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET},
        )
        self._server = server_class((host, port), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="docket-healthcheck", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def start_health_server(
    monitor: HealthMonitor, port: int, host: str = DEFAULT_HOST
) -> HealthServer:
    """Answer health checks on ``host`` (all interfaces by default) and ``port`` until
    ``stop()``; a port in use or an address that cannot be bound is a ``CLIError``."""
    try:
        server = HealthServer(monitor, port, host)
    except OSError as error:
        raise CLIError(
            f"cannot serve health checks on port {port} at {host}: {error.strerror or error}"
        ) from None
    logger.info("Answering health checks on port %d at %s", server.port, host)
    return server
