"""Spreading work out with an ``Agenda``: collect calls, then scatter them over time.

Run it with ``python examples/agenda.py``; it needs no Redis server, because
``memory://`` is the in-process twin of the Redis engine.  Five page fetches
are spread evenly over two seconds (the first at once, the last at +2s), with
a little jitter, instead of all hitting the site at the same moment.
Scattering the same agenda again changes nothing: every call has a key.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from docket import Agenda, Docket, Worker

STARTED = datetime.now(timezone.utc)


def stamp() -> str:
    """Seconds since the example started, for the printed lines."""
    return f"+{(datetime.now(timezone.utc) - STARTED).total_seconds():.1f}s"


async def fetch(page: str) -> str:
    """The work being spread out: pretend to fetch a page."""
    print(f"{stamp()}  [task] fetch {page}")
    return f"<html>{page}</html>"


async def main() -> None:
    async with Docket(name="agenda-demo", url="memory://agenda-demo") as docket:
        docket.register(fetch)

        agenda = Agenda()
        for page in ["home", "about", "pricing", "blog", "contact"]:
            # By function or by registered name; the key makes a re-scatter a no-op.
            agenda.add("fetch" if page == "blog" else fetch, key=f"fetch-{page}")(page)
        print(f"{stamp()}  agenda holds {len(agenda)} calls")

        executions = await agenda.scatter(
            docket, over=timedelta(seconds=2), jitter=timedelta(milliseconds=100)
        )
        for execution in executions:
            offset = (execution.when - STARTED).total_seconds()
            print(f"{stamp()}  {execution.key} scheduled for +{offset:.1f}s")

        again = await agenda.scatter(docket, over=timedelta(seconds=2))
        print(f"{stamp()}  scattered again: {sorted({e.disposition.value for e in again})}")

        print(f"{stamp()}  running a worker until all of the work is done")
        async with Worker(docket) as worker:
            await worker.run_until_finished()

        for execution in executions:
            print(f"{stamp()}  {execution.key}: {await execution.get_result()!r}")

    print(f"{stamp()}  done")


if __name__ == "__main__":
    asyncio.run(main())
