"""The dockets of one database: ``docket ls``, and the worker's "wrong ``--docket``?" warning.

Both ask ``docket.discovery`` for the names at a URL and open each docket to
count its work.  ``warn_if_wrong_docket`` is what ``docket worker`` (and
``run_worker``) call at start: when the worker's own docket holds no work at
all and other dockets in the same database do, the usual cause is a
``--docket`` name that differs from the producers', so it logs one warning
naming them.  It never stops the worker: a failure to look is logged at
DEBUG and the worker starts as it would have.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rich.table import Table
from rich.text import Text

from docket.cli.options import DEFAULT_URL, UrlOption
from docket.cli.support import check_url, make_console, run
from docket.discovery import DocketSummary, find_dockets, summarize_docket, work_counts
from docket.docket import Docket
from docket.urls import redact_url

__all__ = ["dockets_table", "ls", "other_dockets_with_work", "warn_if_wrong_docket"]

logger = logging.getLogger("docket.cli")

MOST_NAMED = 5
"""How many other dockets the warning names before saying "and N more"."""
MOST_COUNTED = 1000
"""How many other dockets the worker counts the work of, at most (one pipeline on Redis)."""


def dockets_table(summaries: list[DocketSummary]) -> Table:
    """Name / Scheduled / Queued / Running / Workers, one row per docket."""
    table = Table()
    table.add_column("Name", overflow="fold")
    for heading in ("Scheduled", "Queued", "Running", "Workers"):
        table.add_column(heading, justify="right", no_wrap=True)
    for summary in summaries:
        table.add_row(
            Text(summary.name),
            f"{summary.scheduled:,}",
            f"{summary.queued:,}",
            f"{summary.running:,}",
            f"{summary.workers:,}",
        )
    return table


def ls(url: UrlOption = DEFAULT_URL) -> None:
    """List the dockets in a database: their work by state and their live workers.

    A docket is listed once anything (a producer, a worker, a command) has
    opened it at this URL.  Not for redis+cluster:// URLs, whose dockets are
    spread over several masters: give each master's redis:// URL instead.
    """
    console = make_console()

    async def main() -> None:
        check_url(url, allow_memory=False)
        names = await find_dockets(url)
        summaries = [await summarize_docket(url, name) for name in names]
        if summaries:
            console.print(dockets_table(summaries))
        count = len(summaries)
        console.print(
            Text(f"{count} docket{'' if count == 1 else 's'} at {redact_url(url)}"),
        )

    run(main, url=url)


async def other_dockets_with_work(docket: Docket) -> list[DocketSummary]:
    """The other dockets at ``docket``'s URL that hold work, when ``docket`` itself holds none.

    Empty when ``docket`` holds any scheduled, queued or running work.  Their
    ``workers`` are not counted (0): that would mean opening each one.
    """
    counts = await docket.engine.counts(docket.clock.now())
    if counts.total:
        return []
    provider = docket.credential_provider
    names = await find_dockets(docket.url, credential_provider=provider)
    others = [n for n in names if n != docket.name][:MOST_COUNTED]
    found = await work_counts(docket.url, others, credential_provider=provider)
    return [
        DocketSummary(name, c.future, c.queued, c.running, workers=0)
        for name, c in found.items()
        if c.total
    ]


def _described(summary: DocketSummary) -> str:
    parts = [
        f"{amount:,} {state}"
        for amount, state in (
            (summary.scheduled, "scheduled"),
            (summary.queued, "queued"),
            (summary.running, "running"),
        )
        if amount
    ]
    return f"{summary.name!r} ({', '.join(parts)})"


async def warn_if_wrong_docket(docket: Docket, label: Callable[[str], str]) -> None:
    """Log a warning when ``docket`` holds no work and other dockets at its URL do.

    ``label`` names the docket setting (``--docket``, or ``docket_name``).
    """
    try:
        others = await other_dockets_with_work(docket)
    except Exception as error:
        # Only advice: a database that cannot be listed (a cluster, an ACL
        # without SCAN) must not keep the worker from starting.
        logger.debug("Could not look for other dockets: %s", error)
        return
    if not others:
        return
    named = ", ".join(_described(s) for s in others[:MOST_NAMED])
    if len(others) > MOST_NAMED:
        named += f" and {len(others) - MOST_NAMED} more"
    logger.warning(
        "Docket %r has no work, but other dockets at %s do: %s. Is %s %r the name "
        "your producers use?",
        docket.name,
        redact_url(docket.url),
        named,
        label("docket_name"),
        docket.name,
    )
