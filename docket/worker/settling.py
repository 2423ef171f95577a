"""The settler: the one writer of a worker's outcomes.

A slot hands each run's ``Outcome`` here and moves on at once; the outcome is
written with the next batch (``batching.py``), which while the claim loop
runs rides in its next claim's round trip.  Until it is written the delivery
is *unsettled*: its lease is still renewed and the worker does not count
itself idle.  An outcome that could not be written (storage restarting,
loading, unreachable) is kept and written again for as long as its lease
could still be held, one ``lease`` since the first failure: settlements are
fenced by generation, so a late write is safe, and a second run of the work
needs a lease that really expired.  Deliveries that cannot run are set aside as dead letters here
too.  Observers (``docket_testing`` among them) hear of every outcome that
took effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from docket.docket import Docket
from docket.engines.base import Claim, Settlement, TaskMessage
from docket.execution import Execution
from docket.frozen import build_frozen
from docket.printable import printable
from docket.states import ExecutionState
from docket.timeutil import EPOCH
from docket.worker.batching import SettlementBatcher
from docket.worker.event_log import log_superseded, looks_like_outage
from docket.worker.outcomes import Outcome, log_context

__all__ = ["SettlementObserver", "Settler"]

logger = logging.getLogger("docket.worker")

_SETTLEMENT_DEFAULTS = dict(
    vars(Settlement("", "", 0, ExecutionState.COMPLETED, EPOCH, timedelta(0)))
)
"""A ``Settlement``'s fields as its constructor fills them, for ``build_frozen``
(one is built per run)."""

SettlementObserver = Callable[[Execution, ExecutionState, "BaseException | None"], None]
"""Called with each execution this worker settles, the state it settled in
(QUEUED for a reschedule) and the exception the run raised."""


class Settler:
    """Writes the outcomes of one worker's runs, and tells ``on_written`` when each lands."""

    def __init__(
        self,
        docket: Docket,
        worker: str,
        on_written: Callable[[], None],
        lease: timedelta,
    ) -> None:
        self.docket = docket
        self.worker = worker
        self.lease = lease
        self.batcher = SettlementBatcher(docket.engine, docket.clock)
        self.unsettled: set[str] = set()
        """Deliveries whose run is over but whose outcome is not yet written."""
        self.observers: list[SettlementObserver] = []
        self.on_written = on_written
        """Called once each outcome has landed (or its write given up on)."""

    def settle(self, claim: Claim, outcome: Outcome) -> None:
        """Hand a run's outcome to the batcher; it is written with the next batch."""
        delivery = claim.delivery
        execution = outcome.execution
        self.unsettled.add(delivery)
        settlement = build_frozen(
            Settlement,
            _SETTLEMENT_DEFAULTS,
            delivery=delivery,
            key=execution.key,
            generation=execution.generation,
            state=outcome.state,
            completed_at=self.docket.clock.now(),
            ttl=self.docket.execution_ttl,
            result=outcome.result,
            error=outcome.error,
            reschedule=outcome.reschedule,
            wait_for=outcome.wait_for,
            started_at=(
                execution.started_at
                if claim.record is not None and execution.started_at != claim.record.started_at
                else None
            ),
        )

        self.batcher.submit(settlement, _Landing(self, settlement, outcome))

    async def defer(self, claim: Claim, message: TaskMessage) -> None:
        """Put a delivery that cannot run here yet back on the queue as ``message``
        (the same execution, due later); it is acknowledged."""
        record = claim.record
        assert record is not None
        try:
            await self.docket.engine.settle(
                [
                    Settlement(
                        delivery=claim.delivery,
                        key=record.key,
                        generation=record.generation,
                        state=ExecutionState.QUEUED,
                        completed_at=self.docket.clock.now(),
                        ttl=self.docket.execution_ttl,
                        reschedule=message,
                    )
                ],
                self.docket.clock.now(),
            )
        except Exception:
            logger.exception(
                "Could not put delivery %s back on the queue; its lease will expire",
                claim.delivery,
            )

    async def set_aside(self, claim: Claim, reason: str) -> None:
        """Keep a delivery that cannot run as a dead letter (its execution ends FAILED)."""
        record = claim.record
        try:
            await self.docket.engine.set_aside(
                claim.delivery,
                reason,
                self.docket.clock.now(),
                self.docket.execution_ttl,
                key=record.key if record else None,
                generation=record.generation if record else None,
                retention=self.docket.dead_letter_retention,
            )
        except Exception:
            logger.exception(
                "Could not set aside delivery %s; its lease will expire", claim.delivery
            )


class _Landing:
    """What becomes of one outcome once its write lands or fails (the batcher's callback).

    An object rather than a closure: a closure that hands itself back to the
    batcher on a failed write would hold itself in a reference cycle, and
    leave each run's execution and outcome for the cyclic collector.
    """

    __slots__ = ("first_failure", "outcome", "settlement", "settler")

    def __init__(self, settler: Settler, settlement: Settlement, outcome: Outcome) -> None:
        self.settler = settler
        self.settlement = settlement
        self.outcome = outcome
        self.first_failure: float | None = None

    def __call__(self, applied: bool | None, failure: BaseException | None) -> None:
        settler, outcome = self.settler, self.outcome
        execution = outcome.execution
        if failure is not None:
            now = settler.docket.clock.monotonic()
            if self.first_failure is None:
                self.first_failure = now
                # An outage is the claim loop's to report, once, not once per run.
                logger.log(
                    logging.DEBUG if looks_like_outage(failure) else logging.WARNING,
                    "Could not record the outcome of %s yet (%s: %s); retrying while "
                    "its lease lasts",
                    printable(execution.call_repr()),
                    type(failure).__name__,
                    failure,
                    extra=log_context(execution, settler.worker),
                )
            if now - self.first_failure < settler.lease.total_seconds():
                settler.batcher.submit(self.settlement, self)
                return
        settler.unsettled.discard(self.settlement.delivery)
        # The outcome (a retry, a perpetual's next run) is in storage now:
        # a claim in flight may have looked before it landed.
        settler.on_written()
        if failure is not None:
            logger.error(
                "Could not record the outcome of %s within its lease; it will be redelivered",
                printable(execution.call_repr()),
                exc_info=failure,
                extra=log_context(execution, settler.worker),
            )
        elif not applied and not outcome.cancelled:
            log_superseded(execution, settler.worker)
        else:
            for observer in settler.observers:
                observer(execution, outcome.state, outcome.exception)
