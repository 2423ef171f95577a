"""One producer process of a chaos run: ``python -m chaos.producer URL NAME FIRST COUNT POISON``.

It schedules ``record`` tasks ``task-FIRST`` to ``task-FIRST+COUNT-1`` (and
``POISON`` poison tasks, ``poison-FIRST-i``) in batches, retrying a batch,
or the calls of one it could not store, until each call was stored once:
Redis may be restarting meanwhile.  Keys make a retry of a call that did land
harmless while its work is pending.
"""

from __future__ import annotations

import asyncio
import sys

from chaos.tasks import poison, record
from docket import Disposition, Docket, TaskCall

BATCH = 200


async def produce(url: str, name: str, first: int, count: int, poisons: int) -> None:
    # The calls are made once, so a retry after a lost connection sends only
    # what is still unstored.
    describing = Docket(name, url)
    pending: list[TaskCall] = [
        describing.call(record, key=f"task-{n}")(n) for n in range(first, first + count)
    ]
    pending += [describing.call(poison, key=f"poison-{first}-{i}")(i) for i in range(poisons)]
    while pending:
        try:
            async with Docket(name, url) as docket:
                while pending:
                    batch = pending[:BATCH]
                    executions = await docket.add_many(batch)
                    failed = [
                        call
                        for call, execution in zip(batch, executions, strict=True)
                        if execution.disposition is Disposition.FAILED
                    ]
                    pending = failed + pending[BATCH:]
                    if failed:
                        await asyncio.sleep(0.2)
        except Exception as error:  # Redis restarting: open again and go on
            print(f"producer {first}: {type(error).__name__}: {error}; retrying", flush=True)
            await asyncio.sleep(0.2)


def main(argv: list[str]) -> int:
    url, name, first, count, poisons = argv
    asyncio.run(produce(url, name, int(first), int(count), int(poisons)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
