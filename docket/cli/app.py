"""The typer application and its commands."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from typing import Annotated

import typer

from docket import Docket, Worker, __version__

app = typer.Typer(help="docket: background work on Redis Streams", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print docket's version."""
    typer.echo(__version__)


@app.command()
def worker(
    tasks: Annotated[
        list[str], typer.Option("--tasks", help="module:attribute naming an iterable of tasks")
    ],
    docket_name: Annotated[str, typer.Option("--docket", envvar="DOCKET_NAME")] = "docket",
    url: Annotated[
        str, typer.Option("--url", envvar="DOCKET_URL")
    ] = "redis://localhost:6379/0",
    name: Annotated[str | None, typer.Option("--name", envvar="DOCKET_WORKER_NAME")] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", envvar="DOCKET_WORKER_CONCURRENCY", min=1)
    ] = 10,
    redelivery_timeout: Annotated[
        float, typer.Option("--redelivery-timeout", help="seconds")
    ] = 300.0,
    until_finished: Annotated[bool, typer.Option("--until-finished")] = False,
    logging_level: Annotated[str, typer.Option("--logging-level")] = "INFO",
) -> None:
    """Run a worker for the tasks named by --tasks."""
    logging.basicConfig(
        level=logging_level.upper(),
        format="[%(asctime)s] %(levelname)s - %(name)s - %(message)s",
    )

    async def run() -> None:
        async with Docket(name=docket_name, url=url) as docket:
            for collection in tasks:
                docket.register_collection(collection)
            async with Worker(
                docket,
                name=name,
                concurrency=concurrency,
                redelivery_timeout=timedelta(seconds=redelivery_timeout),
            ) as running:
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(signum, running.stop)
                if until_finished:
                    await running.run_until_finished()
                else:
                    await running.run_forever()

    try:
        asyncio.run(run())
    except (ValueError, TypeError, ImportError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
