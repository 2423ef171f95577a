"""``docket clear``: cancel every scheduled and queued execution of a docket, after saying so.

What it removes is counted first (scheduled, queued, and the running work it
leaves alone), then:

* ``--dry-run`` prints the counts and removes nothing;
* at a terminal (stdin is a TTY) it asks for confirmation, unless ``--yes``;
* otherwise (a script, a pipe, CI) it clears without asking, as pydocket
  0.27.2's ``docket clear`` always did, because scripts rely on that; the
  counts go to stderr so stdout stays pydocket's single ``Cleared N tasks``
  line.

Work added between the count and the clear is cleared too: clearing is one
engine operation over whatever is scheduled or queued when it runs.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from docket.cli.options import DEFAULT_DOCKET, DEFAULT_URL, DocketOption, UrlOption
from docket.cli.support import make_console, open_docket, run
from docket.docket import Docket
from docket.engines.records import QueueCounts

__all__ = ["clear", "describe_counts", "stdin_is_terminal"]

YesOption = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Clear without asking for confirmation."),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Only show what would be cleared; remove nothing."),
]


def stdin_is_terminal() -> bool:
    """Whether someone may be at a terminal to answer a question."""
    return sys.stdin is not None and sys.stdin.isatty()


def _tasks(count: int) -> str:
    return f"{count:,} task{'' if count == 1 else 's'}"


def describe_counts(name: str, counts: QueueCounts) -> str:
    """``3 tasks in docket 'x': 2 scheduled, 1 queued; 1 running, left to finish``."""
    pending = counts.future + counts.queued
    return (
        f"{_tasks(pending)} in docket {name!r}: {counts.future:,} scheduled, "
        f"{counts.queued:,} queued; {counts.running:,} running, left to finish"
    )


async def _counts(docket: Docket) -> QueueCounts:
    return await docket.engine.counts(docket.clock.now())


def clear(
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Cancel all scheduled and queued work (running work is left to finish).

    It first shows what it will remove: scheduled and queued tasks, and the
    running ones it leaves alone.  At a terminal it then asks for
    confirmation (--yes skips the question); --dry-run only shows.

    When stdin is not a terminal (a script, a pipe, CI) it clears without
    asking, as pydocket's `docket clear` always did, so existing scripts keep
    working; it still prints what it removes, on stderr, and stdout keeps the
    single "Cleared N tasks from docket NAME" line.  Pass --yes in new
    scripts to say you mean it.
    """
    console = make_console()
    notes = make_console(stderr=True)
    interactive = stdin_is_terminal() and not yes and not dry_run

    async def main() -> int:
        async with open_docket(docket_name, url) as docket:
            counts = await _counts(docket)
            pending = counts.future + counts.queued
            if dry_run:
                console.print(
                    "Would clear " + describe_counts(docket.name, counts),
                    markup=False,
                    highlight=False,
                )
                return 0
            if interactive:
                console.print(
                    "This will clear " + describe_counts(docket.name, counts),
                    markup=False,
                    highlight=False,
                )
                if pending == 0:
                    console.print("Nothing to clear.", markup=False, highlight=False)
                    return 0
                if not typer.confirm("Clear them?", default=False):
                    console.print("Nothing was cleared.", markup=False, highlight=False)
                    return 1
            else:
                notes.print(
                    "Clearing " + describe_counts(docket.name, counts),
                    markup=False,
                    highlight=False,
                )
            cleared = await docket.clear()
            console.print(
                f"Cleared {cleared} task{'' if cleared == 1 else 's'} from docket {docket.name!r}",
                markup=False,
                highlight=False,
            )
            return 0

    code = run(main, url=url)
    if code:
        raise typer.Exit(code)
