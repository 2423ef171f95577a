"""Work naming a task this worker does not know: retried for a while, then set aside.

During a rolling deploy an old worker meets work for a task only the new code
registers.  Setting it aside at once would dead-letter work a newer worker
could run, so it is put back on the queue, unchanged but for a header that
remembers when a worker first failed to recognise it, with a backoff that
doubles with the time already waited (1 second at least, a minute at most).
Once ``unknown_task_grace`` has passed since then, the next worker that does
not know it sets it aside as a dead letter.  The arguments are never decoded
here: the task's module may not exist in this process at all.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from docket.dead_letters import UNKNOWN_SINCE_HEADER
from docket.engines.base import ExecutionRecord, TaskMessage
from docket.timeutil import epoch_ms, from_epoch_ms, truncate_to_ms
from docket.worker.outcomes import Deferred, SetAside, capped

__all__ = ["unknown_task"]

logger = logging.getLogger("docket.worker")


_SHORTEST_WAIT = timedelta(seconds=1)
_LONGEST_WAIT = timedelta(minutes=1)


def unknown_task(record: ExecutionRecord, now: datetime, grace: timedelta) -> Deferred | SetAside:
    """What to do with ``record``, whose task this worker does not know, at ``now``."""
    since = _first_unknown(record, now)
    waited = now - since
    if waited >= grace:
        logger.warning(
            "Unknown task %s received - setting it aside as a dead letter (unknown for %s). "
            "Register via CLI (--tasks your.module:tasks) or API (docket.register(func)).",
            capped(repr(record.function_name)),
            waited,
        )
        return SetAside(f"unknown task {record.function_name!r}")
    wait = min(max(waited, _SHORTEST_WAIT), _LONGEST_WAIT, since + grace - now)
    logger.warning(
        "Unknown task %s for %r; trying again in %s in case a worker that knows it "
        "takes it (set aside after %s)",
        capped(repr(record.function_name)),
        record.key,
        wait,
        grace,
    )
    headers = {**record.headers, UNKNOWN_SINCE_HEADER: str(epoch_ms(since))}
    return Deferred(
        TaskMessage(
            key=record.key,
            function_name=record.function_name,
            payload=record.payload,
            when=truncate_to_ms(now + wait),
            attempt=record.attempt,
            headers=headers,
        )
    )


def _first_unknown(record: ExecutionRecord, now: datetime) -> datetime:
    stored = record.headers.get(UNKNOWN_SINCE_HEADER)
    if stored is not None:
        try:
            return min(from_epoch_ms(int(stored)), now)
        except (ValueError, OverflowError):
            pass  # not ours after all: count from now
    return truncate_to_ms(now)
