"""``docket watch KEY``: follow one execution until it ends.

``WatchView`` is the state being shown; it folds in stored records
(``apply_record``) and published events (``apply_event``: state changes and
progress updates), ignoring anything from an older generation.  ``follow``
subscribes first and then reads the record, so no change is missed, and also
re-reads every ``POLL_SECONDS`` in case an event is lost.  Two reporters
draw the view: a rich live panel with a progress bar on a terminal, and one
plain line per change when piped; both show stored text (key, task, worker,
progress, error) with control characters escaped (``docket.printable``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Protocol

import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from docket.cli.options import DEFAULT_DOCKET, DEFAULT_URL, DocketOption, WatchUrlOption
from docket.cli.snapshot import format_age, format_when
from docket.cli.support import CLIError, make_console, open_docket, run
from docket.clock import Clock, SystemClock
from docket.docket import Docket
from docket.engines.base import ExecutionRecord, ProgressChange, ProgressState, StateChange
from docket.printable import printable
from docket.states import ExecutionState

__all__ = ["LineReporter", "LiveReporter", "WatchView", "follow", "watch"]

POLL_SECONDS = 1.0
"""How often the record is re-read while no event arrives."""

STATE_STYLES = {
    ExecutionState.SCHEDULED: "cyan",
    ExecutionState.QUEUED: "blue",
    ExecutionState.RUNNING: "yellow",
    ExecutionState.COMPLETED: "green",
    ExecutionState.FAILED: "red",
    ExecutionState.CANCELLED: "magenta",
}


@dataclass
class WatchView:
    """What is known about the watched execution (its latest generation)."""

    key: str
    function: str | None = None
    state: ExecutionState | None = None
    generation: int = -1
    attempt: int = 1
    worker: str | None = None
    when: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    progress: ProgressState = field(default_factory=ProgressState)
    gone: bool = False
    """The record disappeared (expired or removed) before an end was seen."""

    @property
    def ended(self) -> bool:
        return self.gone or (self.state is not None and self.state.is_terminal)

    @property
    def succeeded(self) -> bool:
        return self.state is ExecutionState.COMPLETED and not self.gone

    def apply_record(self, record: ExecutionRecord) -> None:
        """Take everything from a stored record, unless it is older than what is shown."""
        if record.generation < self.generation:
            return
        self.function = record.function_name
        self.generation = record.generation
        self.state = record.state
        self.attempt = record.attempt
        self.worker = record.worker
        self.when = record.when
        self.started_at = record.started_at
        self.completed_at = record.completed_at
        self.error = record.error
        self.progress = record.progress

    def apply_event(self, event: object) -> None:
        """Fold in a published StateChange or ProgressChange."""
        if isinstance(event, ProgressChange):
            if event.generation == self.generation:
                self.progress = event.progress
        elif isinstance(event, StateChange):
            if event.generation < self.generation:
                return
            if event.generation > self.generation:
                # A retry or another run under the key: its own timings follow.
                self.generation = event.generation
                self.progress = ProgressState()
                self.started_at = self.completed_at = None
                self.error = None
            self.state = event.state
            if event.worker is not None:
                self.worker = event.worker
            if event.error is not None:
                self.error = event.error

    def duration(self, now: datetime) -> float | None:
        """Seconds it ran (so far, while running)."""
        if self.started_at is None:
            return None
        end = self.completed_at if self.completed_at is not None else now
        return max(0.0, (end - self.started_at).total_seconds())

    def progress_text(self) -> str:
        progress = self.progress
        if progress.total is None and not progress.current:
            return progress.message or ""
        amount = f"{progress.current}/{progress.total}" if progress.total else f"{progress.current}"
        return f"{amount} {progress.message}" if progress.message else amount

    def line(self, now: datetime) -> str:
        """One line describing the execution, for piped output."""
        state = "gone (expired or removed)" if self.gone else str(self.state)
        parts = [f"{printable(self.key)}: {state}"]
        if self.function:
            parts.append(f"task={printable(self.function)}")
        if self.state is ExecutionState.SCHEDULED and self.when is not None:
            parts.append(f"due={format_when(self.when, now)}")
        if self.worker:
            parts.append(f"worker={printable(self.worker)}")
        if self.attempt > 1:
            parts.append(f"attempt={self.attempt}")
        if self.state is not None and self.state.is_terminal:
            duration = self.duration(now)
            if duration is not None:
                parts.append(f"duration={format_age(duration)}")
        progress = self.progress_text()
        if progress:
            parts.append(f"progress={printable(progress)}")
        if self.error:
            parts.append(f"error={printable(self.error)}")
        return " ".join(parts)


class Reporter(Protocol):
    """Draws a WatchView as it changes."""

    def update(self, view: WatchView) -> None: ...

    def close(self, view: WatchView) -> None: ...


class LineReporter:
    """One line per visible change, for logs and pipes."""

    def __init__(self, console: Console, clock: Clock) -> None:
        self.console = console
        self.clock = clock
        self._last: str | None = None

    def _signature(self, view: WatchView) -> str:
        # Timings that tick on their own (durations) must not print a new line.
        return "|".join(
            str(part)
            for part in (
                view.state,
                view.gone,
                view.generation,
                view.worker,
                view.error,
                view.progress_text(),
            )
        )

    def update(self, view: WatchView) -> None:
        signature = self._signature(view)
        if signature != self._last:
            self._last = signature
            self.console.print(Text(view.line(self.clock.now())))

    def close(self, view: WatchView) -> None:
        if view.state is not None:
            self.update(view)


class LiveReporter:
    """A live panel: details, and a progress bar fed by progress events.

    Without a total the bar is indeterminate (it pulses) while the work waits
    or runs.
    """

    def __init__(self, console: Console, clock: Clock) -> None:
        self.console = console
        self.clock = clock
        self.view: WatchView | None = None
        self.progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            console=console,
            auto_refresh=False,
        )
        self.task: TaskID = self.progress.add_task("", total=None, amount="")
        self.live = Live(self, console=console, refresh_per_second=8, transient=False)
        self.live.start()

    def __rich__(self) -> RenderableType:
        view = self.view
        if view is None:
            return Text("")
        return Group(self._details(view), self.progress.make_tasks_table(self.progress.tasks))

    def _details(self, view: WatchView) -> Table:
        now = self.clock.now()
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row("Key", Text(printable(view.key)))
        grid.add_row("Task", Text(printable(view.function or "")))
        state = Text("gone (expired or removed)" if view.gone else str(view.state or ""))
        if view.state is not None:
            state.stylize(STATE_STYLES.get(view.state, ""))
        grid.add_row("State", state)
        if view.attempt > 1:
            grid.add_row("Attempt", str(view.attempt))
        grid.add_row("Worker", Text(printable(view.worker or "")))
        grid.add_row("When", Text(format_when(view.when, now)))
        grid.add_row("Started", Text(format_when(view.started_at, now)))
        if view.completed_at is not None:
            grid.add_row("Finished", Text(format_when(view.completed_at, now)))
        duration = view.duration(now)
        if duration is not None:
            grid.add_row("Duration" if view.ended else "Elapsed", format_age(duration))
        if view.error:
            grid.add_row("Error", Text(printable(view.error), style="red"))
        return grid

    def update(self, view: WatchView) -> None:
        self.view = view
        progress = view.progress
        description = (
            printable(progress.message)
            if progress.message
            else ("gone" if view.gone else str(view.state) if view.state else "")
        )
        total: float | None = float(progress.total) if progress.total else None
        completed = float(progress.current)
        if view.ended:
            total = total or 1.0
            if view.state is ExecutionState.COMPLETED:
                completed = total
        amount = f"{progress.current}/{progress.total}" if progress.total else ""
        self.progress.update(
            self.task, description=description, total=total, completed=completed, amount=amount
        )
        if view.ended:
            self.progress.stop_task(self.task)
        self.live.refresh()

    def close(self, view: WatchView) -> None:
        if view.state is not None:
            self.update(view)
        self.live.stop()


async def follow(
    docket: Docket,
    key: str,
    reporter: Reporter,
    *,
    clock: Clock | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> WatchView:
    """Show ``key``'s execution through ``reporter`` until it ends; return the last view."""
    clock = clock or SystemClock()
    engine = docket.engine
    view = WatchView(key)
    async with engine.subscribe(key) as events:
        record = await engine.get_record(key, clock.now())
        if record is None:
            raise CLIError(f"no execution with key {key!r} in docket {docket.name!r}")
        view.apply_record(record)
        reporter.update(view)
        stream: AsyncIterator[Any] | None = aiter(events)
        pending: asyncio.Future[Any] | None = None
        try:
            while not view.ended:
                if pending is None and stream is not None:
                    pending = asyncio.ensure_future(anext(stream))
                timer = asyncio.ensure_future(clock.sleep(poll_seconds))
                waits: list[asyncio.Future[Any]] = [timer] if pending is None else [pending, timer]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    timer.cancel()
                    await asyncio.gather(timer, return_exceptions=True)
                reread = pending is None or not pending.done()
                if pending is not None and pending.done():
                    try:
                        event = pending.result()
                    except StopAsyncIteration:
                        stream = None
                        reread = True
                    else:
                        view.apply_event(event)
                        reread = isinstance(event, StateChange)
                    pending = None
                if reread:
                    record = await engine.get_record(key, clock.now())
                    if record is not None:
                        view.apply_record(record)
                    elif not view.ended:
                        view.gone = True
                reporter.update(view)
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
    return view


def watch(
    key: Annotated[str, typer.Argument(help="The key of the execution to follow.")],
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: WatchUrlOption = DEFAULT_URL,
) -> None:
    """Follow the execution under KEY live until it ends.

    Shows its state, worker, timings, progress and error.  Exits 0 if it
    completed, 1 if it failed, was cancelled, or is not (or no longer) stored.
    """
    console = make_console()
    clock = SystemClock()

    async def main() -> bool:
        async with open_docket(docket_name, url, allow_memory=True) as docket:
            reporter: Reporter = (
                LiveReporter(console, clock)
                if console.is_terminal
                else LineReporter(console, clock)
            )
            view = WatchView(key)
            try:
                view = await follow(docket, key, reporter, clock=clock)
            finally:
                reporter.close(view)
            return view.succeeded

    if not run(main, url=url):
        raise typer.Exit(1)
