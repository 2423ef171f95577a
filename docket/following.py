"""Following one execution through the engine's events: ``subscribe`` and waiting for its end.

Both subscribe before they read, so no change can fall between the read and
the subscription.  Events travel over Redis pub/sub, which is at most once,
so waiting for the end also re-reads the record now and then: a lost event
cannot strand a waiter.

The state this module tracks is its own (generation, state), never the
``Execution``'s attributes, which the caller may refresh with ``sync()`` at
any time; so a caller's ``sync()`` between events can never end a
subscription early or make it skip the terminal event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from docket.engines.base import Event, ExecutionRecord, ProgressChange, StateChange
from docket.execution_progress import ProgressEvent, StateEvent, iso
from docket.racing import first_of
from docket.states import Disposition, ExecutionState

if TYPE_CHECKING:
    from docket.execution import Execution

__all__ = ["RECHECK_SECONDS", "follow", "wait_for_end"]

RECHECK_SECONDS = 5.0
"""How often, on the docket's clock, a waiter re-reads a record it is waiting
on, in case the event of its end was lost."""


def state_event(execution: Execution) -> StateEvent:
    """The execution's state as the event a subscriber receives."""
    return {
        "type": "state",
        "key": execution.key,
        "state": execution.state,
        "when": execution.when.isoformat(),
        "worker": execution.worker,
        "started_at": iso(execution.started_at),
        "completed_at": iso(execution.completed_at),
        "error": execution.error,
    }


async def follow(
    execution: Execution, ready: asyncio.Event | None = None
) -> AsyncIterator[StateEvent | ProgressEvent]:
    """Yield the current state and progress, then each change, ending with the terminal state.

    ``ready`` is set once the subscription is in place.  An execution with no
    record left (it ended and its record expired, or was never stored because
    it was struck) yields what is known of it and ends.
    """
    docket = execution.docket
    engine = docket.engine
    async with engine.subscribe(execution.key) as changes:
        if ready is not None:
            ready.set()
        found = await execution.sync()
        if not found and execution.disposition is Disposition.STRUCK:
            execution.state = ExecutionState.CANCELLED
        generation, state = execution.generation, execution.state
        yield state_event(execution)
        yield execution.progress.event()
        if state.is_terminal or not found:
            return
        async for change in changes:
            if change.generation < generation:
                continue
            if isinstance(change, ProgressChange):
                execution.progress.apply(change.progress, ExecutionState.RUNNING)
                execution.progress.updated_at = docket.clock.now()
                yield execution.progress.event()
                continue
            generation, state = change.generation, change.state
            await _take_state(execution, change)
            yield state_event(execution)
            if state.is_terminal:
                return


async def _take_state(execution: Execution, change: StateChange) -> None:
    """Apply a state change, with the times and result that only the record carries."""
    engine, clock = execution.docket.engine, execution.docket.clock
    record = await engine.get_record(execution.key, clock.now())
    if record is not None and record.generation == change.generation:
        execution.apply_record(record)
        # The record may already be further on than this change.
        execution.state = change.state
        if not change.state.is_terminal:
            execution.completed_at = None
        return
    execution.generation = change.generation
    execution.state = change.state
    execution.worker = change.worker
    execution.error = change.error


async def wait_for_end(execution: Execution) -> None:
    """Return once ``execution`` has ended, its final record applied.

    Raises ``ExecutionExpired`` through the execution when the record is gone
    before its end was seen.
    """
    engine = execution.docket.engine
    async with engine.subscribe(execution.key) as events:
        if not await execution.sync() and not execution.state.is_terminal:
            execution.record_gone()
        if execution.state.is_terminal:
            return
        generation = execution.generation
        await first_of(
            _end_event(execution, events, generation), _recheck_until_ended(execution, generation)
        )


async def _recheck_until_ended(execution: Execution, generation: int) -> None:
    """Re-read the record now and then, and return once it has ended.

    A record that has gone, or has moved on to a later run still going, is
    left to the event path.
    """
    clock, engine = execution.docket.clock, execution.docket.engine
    while True:
        await clock.sleep(RECHECK_SECONDS)
        record = await engine.get_record(execution.key, clock.now())
        # Only an end is taken from here: applying a later generation that is
        # still going would make the event path skip this one's end.
        if record is not None and record.generation >= generation and record.state.is_terminal:
            execution.apply_record(record)
            return


async def _end_event(execution: Execution, events: AsyncIterator[Event], generation: int) -> None:
    """Wait for the terminal state event of this execution (or a later generation)."""
    engine = execution.docket.engine
    async for event in events:
        if (
            not isinstance(event, StateChange)
            or event.generation < generation
            or not event.state.is_terminal
        ):
            continue
        record: ExecutionRecord | None = await engine.get_record(
            execution.key, execution.docket.clock.now()
        )
        if record is not None and record.generation == event.generation:
            execution.apply_record(record)
        else:
            # The record is already gone (execution_ttl of zero): the event
            # is all there is to know.
            execution.generation = event.generation
            execution.state = event.state
            execution.error = event.error
            execution.forget_result()
        return
