"""Producing on a memory docket: scheduling, cancelling and clearing work.

The twin of ``redis/scheduling.py`` and of ``lua/schedule.lua``,
``cancel.lua`` and ``clear.lua``.  Every ``now`` is already truncated to
milliseconds (``Store.tick``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from docket.engines.memory.listeners import announce
from docket.engines.memory.store import QUEUED, RUNNING, SCHEDULED, Store
from docket.engines.messages import check_message
from docket.engines.records import Cancellation, TaskMessage
from docket.engines.rules import due_order
from docket.engines.schedule_result import ScheduleResult
from docket.states import Disposition, ExecutionState

__all__ = ["cancel", "cancel_many", "clear", "schedule", "schedule_many"]


def schedule(store: Store, message: TaskMessage, now: datetime, replace: bool) -> ScheduleResult:
    """Store ``message`` under its key unless a live record holds it (see ``Engine``)."""
    check_message(message)
    current = store.records.get(message.key)
    if current is not None and current.state.is_live and not replace:
        return ScheduleResult(Disposition.ALREADY_SCHEDULED, current)
    # A replaced record's heap entries go stale with its generation; a
    # replaced RUNNING record's settlement is fenced the same way.
    return ScheduleResult(Disposition.SCHEDULED, store.store_new(message, now))


def schedule_many(
    store: Store, messages: Sequence[TaskMessage], now: datetime, replace: bool
) -> list[ScheduleResult | Exception]:
    """``schedule`` each message in order; a refused one has its error in its place."""
    results: list[ScheduleResult | Exception] = []
    for message in messages:
        try:
            results.append(schedule(store, message, now, replace))
        except (ValueError, TypeError) as error:
            results.append(error)
    return results


def cancel(store: Store, key: str, now: datetime, ttl: timedelta) -> bool:
    """Cancel SCHEDULED, QUEUED or RUNNING work under ``key``; True if this call did."""
    record = store.records.get(key)
    if record is None or not record.state.is_live:
        return False
    notice = None
    if record.state is RUNNING:
        # Its delivery stays with the worker: the settlement finds the
        # record ended and only acknowledges.
        delivery = store.delivery_of(record)
        holder = store.deliveries[delivery].worker if delivery is not None else record.worker
        notice = Cancellation(key, record.generation, delivery or "", holder)
    store.end(record, ExecutionState.CANCELLED, now, ttl)
    if notice is not None:
        announce(store.cancellation_watchers, notice)
    return True


def cancel_many(store: Store, keys: Sequence[str], now: datetime, ttl: timedelta) -> list[bool]:
    """``cancel`` each key in order; a key given twice is found ended the second time."""
    return [cancel(store, key, now, ttl) for key in keys]


def clear(store: Store, now: datetime, ttl: timedelta) -> int:
    """Cancel every SCHEDULED and QUEUED execution, in due order; return how many."""
    pending = [record for record in store.records.values() if record.state in (SCHEDULED, QUEUED)]
    for record in sorted(pending, key=due_order):
        store.end(record, ExecutionState.CANCELLED, now, ttl)
    return len(pending)
