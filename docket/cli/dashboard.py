"""``docket dashboard``: serve the web dashboard of a docket with uvicorn.

The dashboard itself is ``docket.dashboard`` (Starlette); this command only
builds it from the shared options and serves it.  Both need the
``dashboard`` extra; without it the command says which one to install.
"""

from __future__ import annotations

from typing import Annotated

import typer

from docket.cli.loading import load_tasks
from docket.cli.options import (
    DEFAULT_DOCKET,
    DEFAULT_URL,
    STANDARD_TASKS,
    DocketOption,
    TasksOption,
    UrlOption,
    whole_number,
)
from docket.cli.support import CLIError, check_url, describe_error, exit_with_error
from docket.urls import redact_url

__all__ = ["INSTALL_HINT", "dashboard"]

INSTALL_HINT = "pip install 'pydocket[dashboard]'"
"""What to run when the dashboard's libraries (Starlette, uvicorn) are missing."""


def dashboard(
    url: UrlOption = DEFAULT_URL,
    docket_name: DocketOption = DEFAULT_DOCKET,
    tasks: TasksOption = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            envvar="DOCKET_DASHBOARD_HOST",
            metavar="HOST",
            help="The address to listen on.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port",
            envvar="DOCKET_DASHBOARD_PORT",
            parser=whole_number(0, 65535),
            metavar="PORT",
            help="The port to listen on (0: any free port).",
        ),
    ] = 8080,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Show the docket; refuse every action.")
    ] = False,
    allow_unauthenticated_actions: Annotated[
        bool,
        typer.Option(
            "--allow-unauthenticated-actions",
            help=(
                "Let anyone who can reach the port cancel, run, replay, purge, strike and "
                "restore (there is no login here: bind to 127.0.0.1 or put a proxy in front)."
            ),
        ),
    ] = False,
) -> None:
    """Serve a web dashboard of the docket: workers, work, failures, dead letters, strikes."""
    try:
        import uvicorn

        from docket.dashboard import app
    except ImportError as error:
        raise exit_with_error(
            f"docket dashboard needs the dashboard extra ({error.name or error} is missing): "
            f"{INSTALL_HINT}"
        ) from None
    try:
        check_url(url, allow_memory=False)
        functions = load_tasks(tasks or (STANDARD_TASKS,))
        dashboard_app = app(
            url=url,
            docket=docket_name,
            tasks=functions,
            read_only=read_only,
            allow_unauthenticated_actions=allow_unauthenticated_actions,
        )
    except CLIError as error:
        raise exit_with_error(str(error), error.exit_code) from None
    except Exception as error:
        raise exit_with_error(describe_error(error, url)) from None
    typer.echo(
        f"docket dashboard of {docket_name!r} at {redact_url(url)} on http://{host}:{port}/"
        + (" (read-only)" if read_only else "")
    )
    # Open pages hold their event streams open; on Ctrl-C wait for them only briefly.
    uvicorn.run(
        dashboard_app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2
    )
