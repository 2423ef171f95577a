"""``docket snapshot``: a table of the docket's running and future work.

Rows come straight from the engine's records, so a task this process does
not know, or arguments it cannot unpickle (a class from a module it cannot
import), show up as such in the row instead of failing the command.
``--tasks`` imports task modules, which lets their arguments decode and
their ``Logged`` parameters show.  Keys, task names, calls and worker names
are shown with control characters escaped (``docket.printable``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from docket.annotations import call_repr
from docket.cli.loading import load_tasks
from docket.cli.options import DEFAULT_DOCKET, DEFAULT_URL, DocketOption, TasksOption, UrlOption
from docket.cli.support import make_console, open_docket, run
from docket.docket import Docket
from docket.engines.base import ExecutionRecord, StorageSnapshot
from docket.printable import printable
from docket.states import ExecutionState

__all__ = ["format_age", "format_when", "render_snapshot", "snapshot"]


def format_age(seconds: float) -> str:
    """``4m 12s``-style text for a span of time (sign ignored)."""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def format_when(when: datetime | None, now: datetime) -> str:
    """Local time of ``when`` with how far it is from ``now``: ``12:00:05 (in 5s)``."""
    if when is None:
        return ""
    local = when.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    delta = (when - now).total_seconds()
    relative = f"in {format_age(delta)}" if delta > 0 else f"{format_age(delta)} ago"
    return f"{local} ({relative})"


@dataclass(frozen=True)
class Row:
    """One execution as the table shows it."""

    record: ExecutionRecord
    call: str
    decoded: bool


def describe_call(docket: Docket, record: ExecutionRecord) -> tuple[str, bool]:
    """``name(args...)`` for a record, or a note saying why its arguments cannot be shown."""
    try:
        args, kwargs = docket.codec.decode_call(record.payload, record.function_name)
    except Exception as error:
        return (
            printable(
                f"{record.function_name}(<arguments cannot be decoded: "
                f"{type(error).__name__}: {error}>)"
            ),
            False,
        )
    text = call_repr(
        record.function_name, docket.tasks.get(record.function_name), args, kwargs, record.key
    )
    suffix = "{" + record.key + "}"
    return printable(text[: -len(suffix)] if text.endswith(suffix) else text), True


def _rows(docket: Docket, records: Sequence[ExecutionRecord]) -> list[Row]:
    rows = []
    for record in records:
        call, decoded = describe_call(docket, record)
        rows.append(Row(record, call, decoded))
    return rows


def render_snapshot(
    console: Console,
    docket: Docket,
    stored: StorageSnapshot,
    now: datetime,
    *,
    workers: int,
    stats: bool,
) -> None:
    """Print the work table, the summary line, and with ``stats`` the per-task table."""
    running = _rows(docket, stored.running)
    waiting = _rows(docket, stored.queued + stored.future)
    table = Table(title=f"Docket {docket.name!r}", title_justify="left")
    table.add_column("When", no_wrap=True)
    table.add_column("Function", overflow="fold")
    table.add_column("Key", overflow="fold")
    table.add_column("Worker", overflow="fold")
    table.add_column("Started", no_wrap=True)
    for row in running + waiting:
        record = row.record
        call = Text(row.call, style="" if row.decoded else "yellow")
        table.add_row(
            Text(format_when(record.when, now)),
            call,
            Text(printable(record.key)),
            Text(printable(record.worker or "")),
            Text(format_when(record.started_at, now)),
            style="bold" if record.state is ExecutionState.RUNNING else None,
        )
    console.print(table)
    total = len(running) + len(waiting)
    console.print(
        Text(f"{workers} worker{'' if workers == 1 else 's'}, {len(running)}/{total} running")
    )
    if stats:
        console.print(_stats_table(stored, now))


def _stats_table(stored: StorageSnapshot, now: datetime) -> Table:
    by_task: dict[str, list[ExecutionRecord]] = defaultdict(list)
    for record in stored.running + stored.queued + stored.future:
        by_task[record.function_name].append(record)
    table = Table(title="By task", title_justify="left")
    for column in ("Function", "Total", "Running", "Queued", "Scheduled"):
        table.add_column(column, justify="left" if column == "Function" else "right")
    table.add_column("Oldest Due", no_wrap=True)
    table.add_column("Latest Due", no_wrap=True)
    for name in sorted(by_task):
        records = by_task[name]
        count = {state: 0 for state in ExecutionState}
        for record in records:
            count[record.state] += 1
        waiting = sorted(r.when for r in records if r.state is not ExecutionState.RUNNING)
        table.add_row(
            Text(printable(name)),
            str(len(records)),
            str(count[ExecutionState.RUNNING]),
            str(count[ExecutionState.QUEUED]),
            str(count[ExecutionState.SCHEDULED]),
            Text(format_when(waiting[0], now) if waiting else ""),
            Text(format_when(waiting[-1], now) if waiting else ""),
        )
    return table


def snapshot(
    tasks: TasksOption = None,
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
    stats: Annotated[
        bool, typer.Option("--stats", help="Also show counts and due times per task.")
    ] = False,
) -> None:
    """Show the docket's running and future work, and how many workers serve it.

    Pass --tasks to import your task modules, so arguments of your own types
    decode and ``Logged`` parameters show their values.
    """
    console = make_console()

    async def main() -> None:
        functions = load_tasks(tasks or [])
        async with open_docket(docket_name, url, tasks=functions) as docket:
            now = docket.clock.now()
            stored = await docket.engine.snapshot(now)
            workers = await docket.workers()
            render_snapshot(console, docket, stored, now, workers=len(workers), stats=stats)

    run(main, url=url)
