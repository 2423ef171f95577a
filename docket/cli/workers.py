"""``docket workers ls`` and ``docket workers for-task``: who is serving a docket."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from docket.cli.options import DEFAULT_DOCKET, DEFAULT_URL, DocketOption, UrlOption
from docket.cli.snapshot import format_when
from docket.cli.support import make_console, open_docket, run
from docket.engines.base import WorkerInfo

__all__ = ["app", "workers_table"]

app = typer.Typer(help="List the live workers of a docket.", no_args_is_help=True)


def workers_table(
    workers: Sequence[WorkerInfo], now: datetime, *, highlight: str | None = None
) -> Table:
    """Name / Last Seen / Tasks, with ``highlight`` in bold among the tasks."""
    table = Table()
    table.add_column("Name", overflow="fold")
    table.add_column("Last Seen", no_wrap=True)
    table.add_column("Tasks", overflow="fold")
    for worker in workers:
        tasks = Text()
        for index, task in enumerate(sorted(worker.tasks)):
            if index:
                tasks.append(", ")
            tasks.append(task, style="bold" if task == highlight else None)
        table.add_row(Text(worker.name), Text(format_when(worker.last_seen, now)), tasks)
    return table


def _show(docket_name: str, url: str, task: str | None) -> None:
    console = make_console()

    async def main() -> None:
        async with open_docket(docket_name, url) as docket:
            now = docket.clock.now()
            found = await (docket.workers() if task is None else docket.task_workers(task))
            console.print(workers_table(found, now, highlight=task))
            subject = "" if task is None else f" for task {task!r}"
            count = len(found)
            console.print(
                Text(
                    f"{count} worker{'' if count == 1 else 's'}{subject} in docket {docket.name!r}"
                )
            )

    run(main, url=url)


@app.command("ls")
def ls(
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """List the workers whose heartbeats are recent enough to count as alive."""
    _show(docket_name, url, None)


@app.command("for-task")
def for_task(
    task: Annotated[str, typer.Argument(help="The task name.")],
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """List the live workers that can run TASK."""
    _show(docket_name, url, task)
