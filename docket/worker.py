"""Worker: claims due work from a docket, runs it in slots, and writes the outcomes.

The claim loop hands out at most ``concurrency`` runs at once.  When it has
nothing to claim it waits for whichever comes first: new work (the engine's
wake-up), a free slot, or the next due time or lease expiry on the docket's
clock.  It never polls on a fixed interval.  While it runs, it is the one
writer of outcomes: each batch goes in the round trip of its next claim, so a
busy worker spends about one round trip per batch of runs.  Each slot is a
runner task that starts the next held delivery as soon as a run ends.

What happens inside one run lives in ``docket.running``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any

from uncalled_for import FailedDependency

from docket.automatic import reseed_forever, seed_automatic_tasks
from docket.batching import SettlementBatcher
from docket.cancelling import follow_notices
from docket.dependencies.base import Dependency
from docket.dependencies.functional import SharedScope
from docket.dependencies.resolution import (
    check_task_dependencies,
    single_conflicts,
    worker_dependencies,
)
from docket.docket import Docket
from docket.engines.base import Cancellation, Claim, Settlement, SlotWait, TaskMessage
from docket.execution import Execution
from docket.instrumentation import DEPTHS, internal_operations
from docket.prefetch import HeldDeliveries
from docket.run_context import in_context
from docket.running import RunPath, TaskFunction
from docket.serialization import duration_seconds
from docket.states import ExecutionState
from docket.waiting import cancel_and_wait, first_of, until_set

__all__ = ["Worker", "default_worker_name"]

logger = logging.getLogger("docket.worker")

SettlementObserver = Callable[[Execution, ExecutionState, "BaseException | None"], None]
"""Called with each execution this worker settles, the state it settled in
(QUEUED or SCHEDULED for a reschedule) and the exception the run raised."""


def default_worker_name() -> str:
    """``hostname#pid``, unique per process on a host."""
    return f"{socket.gethostname()}#{os.getpid()}"


def _positive(value: timedelta, parameter: str) -> timedelta:
    if duration_seconds(value, parameter) <= 0:
        raise ValueError(f"{parameter} must be positive, got {value!r}")
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


class Worker:
    """Runs the work of one docket, ``concurrency`` executions at a time.

    Delivery is at least once: each claim takes a lease of
    ``redelivery_timeout``, renewed while the run lasts; if this worker dies,
    any worker reclaims the work once the lease expires.  Use it as an async
    context manager; leaving the context stops claiming and finishes what is
    running.

    ``prefetch`` is how many deliveries the worker may claim beyond its free
    slots and hold, so a slot that frees starts the next run at once instead
    of after a claim round trip.  By default (None) it holds up to
    ``concurrency`` while its runs average under half of
    ``scheduling_resolution`` (none before a run has ended); 0 turns
    prefetching off.  Held deliveries are leased to this worker (and show as
    running) while they wait; a run's record keeps the time it really
    started.  One held for ``scheduling_resolution`` without a slot is
    handed back to the queue, where any worker may take it, and so is
    everything held when the worker stops.

    ``max_deliveries`` bounds how many times one delivery is handed out: a
    delivery reclaimed again and again (its workers keep dying while they
    run it, say killed for memory) is set aside as a dead letter past that
    many, and its execution ends FAILED, instead of taking down worker after
    worker forever.  None removes the bound.
    """

    def __init__(
        self,
        docket: Docket,
        name: str | None = None,
        concurrency: int = 10,
        redelivery_timeout: timedelta = timedelta(minutes=5),
        reconnection_delay: timedelta = timedelta(seconds=5),
        minimum_check_interval: timedelta = timedelta(milliseconds=250),
        scheduling_resolution: timedelta = timedelta(milliseconds=250),
        schedule_automatic_tasks: bool = True,
        enable_internal_instrumentation: bool = False,
        fallback_task: TaskFunction | None = None,
        dependencies: Mapping[str, Any] | Sequence[Any] | None = None,
        message_batch: int = 1000,
        *,
        prefetch: int | None = None,
        max_deliveries: int | None = 10,
    ) -> None:
        if not isinstance(docket, Docket):
            raise TypeError(f"docket must be a Docket, got {docket!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None, got {name!r}")
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
        if fallback_task is not None and not callable(fallback_task):
            raise TypeError(f"fallback_task must be callable, got {fallback_task!r}")
        if not isinstance(enable_internal_instrumentation, bool):
            raise TypeError(
                "enable_internal_instrumentation must be a bool, "
                f"got {enable_internal_instrumentation!r}"
            )
        if (
            not isinstance(message_batch, int)
            or isinstance(message_batch, bool)
            or message_batch < 1
        ):
            raise ValueError(f"message_batch must be a positive integer, got {message_batch!r}")
        named_dependencies = worker_dependencies(dependencies)
        self.docket = docket
        self.name = name or default_worker_name()
        self.concurrency = concurrency
        self.redelivery_timeout = _positive(redelivery_timeout, "redelivery_timeout")
        self.reconnection_delay = _positive(reconnection_delay, "reconnection_delay")
        self.minimum_check_interval = _positive(minimum_check_interval, "minimum_check_interval")
        self.scheduling_resolution = _positive(scheduling_resolution, "scheduling_resolution")
        self.schedule_automatic_tasks = schedule_automatic_tasks
        if prefetch is not None and (
            not isinstance(prefetch, int) or isinstance(prefetch, bool) or prefetch < 0
        ):
            raise ValueError(f"prefetch must be None or a non-negative integer, got {prefetch!r}")
        self.prefetch = prefetch
        if max_deliveries is not None and (
            not isinstance(max_deliveries, int)
            or isinstance(max_deliveries, bool)
            or max_deliveries < 1
        ):
            raise ValueError(
                f"max_deliveries must be None or a positive integer, got {max_deliveries!r}"
            )
        self.max_deliveries = max_deliveries
        self.fallback_task = fallback_task
        self.enable_internal_instrumentation = enable_internal_instrumentation
        self.message_batch = message_batch
        self.dependencies: dict[str, Dependency[Any]] = named_dependencies
        if fallback_task is not None:
            check_task_dependencies(fallback_task)
        self.shared_scope = SharedScope()
        self._conflicts: dict[Callable[..., Any], dict[str, FailedDependency]] = {}

        self._running: dict[str, asyncio.Task[None]] = {}
        # Deliveries whose run is over but whose outcome is not yet written.
        self._unsettled: set[str] = set()
        # Deliveries whose task body may still be running, each with the
        # monotonic time its run started.  A slot frees as soon as the body
        # ends, before its outcome is written, so writing outcomes never
        # leaves a slot idle.
        self._occupied: dict[str, float] = {}
        # How many runs have ended: a claim that saw none end while it was in
        # flight speaks for the present; otherwise a run's outcome (a retry or
        # perpetual next run, due now) may have landed after the claim looked.
        self._runs_ended = 0
        # Claimed deliveries waiting for a slot.
        self._held = HeldDeliveries(
            prefetch, concurrency, self.scheduling_resolution.total_seconds()
        )
        self._holding = asyncio.Event()
        # Runs started by the claim loop that may not yet have had a turn.
        self._fresh_starts = False
        self._claim_loops = 0
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._entered = 0
        self._background: list[asyncio.Task[None]] = []
        self._settlements = SettlementBatcher(docket.engine, docket.clock)
        self._observers: list[SettlementObserver] = []
        self._runs = RunPath(self)
        self._run_context = contextvars.copy_context()

    @classmethod
    async def run(
        cls,
        docket_name: str = "docket",
        url: str = "redis://localhost:6379/0",
        name: str | None = None,
        concurrency: int = 10,
        redelivery_timeout: timedelta = timedelta(minutes=5),
        reconnection_delay: timedelta = timedelta(seconds=5),
        minimum_check_interval: timedelta = timedelta(milliseconds=250),
        scheduling_resolution: timedelta = timedelta(milliseconds=250),
        schedule_automatic_tasks: bool = True,
        enable_internal_instrumentation: bool = False,
        until_finished: bool = False,
        healthcheck_port: int | None = None,
        metrics_port: int | None = None,
        tasks: list[str] = ["docket.tasks:standard_tasks"],  # noqa: B006 - pydocket's; never mutated
        fallback_task: str | None = None,
        message_batch: int = 1000,
        dependencies: Mapping[str, Any] | Sequence[Any] | str | None = None,
    ) -> None:
        """Open a docket and run a worker on it as ``docket worker`` does (pydocket's entry point).

        ``tasks``, ``fallback_task`` and a string ``dependencies`` are
        ``"module:attribute"`` paths.  Returns when the worker stops: with
        ``until_finished`` once no work is left, otherwise on SIGTERM or
        SIGINT.  See ``docket.cli.worker.run_worker``.
        """
        from docket.cli.worker import run_worker

        await run_worker(
            docket_name,
            url,
            name,
            concurrency,
            redelivery_timeout,
            reconnection_delay,
            minimum_check_interval,
            scheduling_resolution,
            schedule_automatic_tasks,
            enable_internal_instrumentation,
            until_finished,
            healthcheck_port,
            metrics_port,
            tasks,
            fallback_task,
            message_batch,
            dependencies,
        )

    async def _internally(self, loop: Coroutine[Any, Any, None]) -> None:
        """Run one of the worker's own loops as internal storage traffic."""
        with internal_operations(self.enable_internal_instrumentation):
            await loop

    def labels(self) -> Mapping[str, str]:
        """The worker's labels on log records and metrics: ``docket.worker``."""
        return {"docket.worker": self.name}

    def validate_task_dependencies(
        self,
        function: Callable[..., Any],
        arguments: dict[str, Any],
        annotations: Mapping[str, Sequence[Dependency[Any]]],
    ) -> dict[str, FailedDependency]:
        """``single`` dependency kinds that both ``function`` and this worker declare.

        Each is a failed dependency of every run of ``function`` here
        (pydocket's hook; ``arguments`` and ``annotations`` are the run's, but
        a conflict depends on the declarations alone, so it is worked out once
        per function).
        """
        conflicts = self._conflicts.get(function)
        if conflicts is None:
            conflicts = self._conflicts[function] = single_conflicts(function, self.dependencies)
        return conflicts

    # -- lifecycle --------------------------------------------------------

    async def __aenter__(self) -> Worker:
        self._entered += 1
        if self._entered == 1:
            self._stopping.clear()
            self.shared_scope = SharedScope()
            subscribed = asyncio.Event()
            notices = asyncio.create_task(
                self._internally(
                    follow_notices(
                        self.docket.engine,
                        self.name,
                        self._on_cancellation,
                        subscribed,
                        self.docket.clock,
                        self.reconnection_delay,
                    )
                ),
                name=f"docket:{self.name}:cancellations",
            )
            self._background = [
                notices,
                asyncio.create_task(
                    self._internally(self._heartbeat_loop()), name=f"docket:{self.name}:heartbeat"
                ),
                asyncio.create_task(
                    self._internally(self._renewal_loop()), name=f"docket:{self.name}:leases"
                ),
                asyncio.create_task(
                    self._internally(self._hold_loop()), name=f"docket:{self.name}:held"
                ),
            ]
            # A cancel sent once this worker claims must reach it.
            await until_set(subscribed, notices)
            if self.schedule_automatic_tasks:
                try:
                    await seed_automatic_tasks(self.docket)
                except Exception:
                    logger.exception("Worker %r could not seed automatic tasks", self.name)
                self._background.append(
                    asyncio.create_task(
                        reseed_forever(self.docket, delay_first=True),
                        name=f"docket:{self.name}:automatic",
                    )
                )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._entered -= 1
        if self._entered > 0:
            return
        self.stop()
        try:
            if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                # Cancelled from outside: do not wait on running work, which
                # could take forever; its leases expire and it is redelivered.
                for task in self._running.values():
                    task.cancel()
            await self._drain()
        finally:
            await cancel_and_wait(*self._background)
            self._background = []
            self._runs.cancellations.clear()
            DEPTHS.pop((self.docket.name, self.name), None)
            try:
                await self.shared_scope.close()
            except Exception:
                logger.exception("Worker %r could not clean up its shared dependencies", self.name)
            try:
                await self.docket.engine.retire(self.name)
            except Exception:
                logger.warning("Worker %r could not retire its heartbeat", self.name, exc_info=True)

    async def _drain(self) -> None:
        """Hand back held work, let running work finish and its outcomes reach storage."""
        try:
            await self._hand_back(self._held.take_all())
            while self._running:
                await asyncio.wait(list(self._running.values()))
            await self._settlements.drain()
        except asyncio.CancelledError:
            # A second stop request: abandon running work; its leases expire
            # and another worker picks it up.
            for task in self._running.values():
                task.cancel()
            raise

    # -- public run methods -----------------------------------------------

    async def run_forever(self) -> None:
        """Claim and run work until cancelled or the worker is stopped."""
        await self._run(until_finished=False)

    async def run_until_finished(self) -> None:
        """Run work until no future, queued or running work remains."""
        await self._run(until_finished=True)

    async def run_at_most(self, iterations_by_key: Mapping[str, int]) -> None:
        """Like ``run_until_finished``, but run each named key or task at most n times.

        Further deliveries of a key or task past its bound are cancelled, which
        is how a test bounds a self-rescheduling chain.
        """
        limits: dict[str, int] = {}
        for name, bound in iterations_by_key.items():
            if not isinstance(bound, int) or isinstance(bound, bool) or bound < 0:
                raise ValueError(
                    f"the bound for {name!r} must be a non-negative integer, got {bound!r}"
                )
            limits[name] = bound
        self._runs.limits = limits
        self._runs.started_counts = Counter()
        try:
            await self._run(until_finished=True)
        finally:
            self._runs.limits = None

    def stop(self) -> None:
        """Ask the running loop to stop claiming; running work still finishes."""
        self._stopping.set()
        self._slot_freed.set()

    async def _run(self, *, until_finished: bool, until_idle: bool = False) -> None:
        if self._entered == 0:
            async with self:
                await self._claim_loop(until_finished, until_idle)
        else:
            await self._claim_loop(until_finished, until_idle)

    async def _run_until_idle(self) -> None:
        """Run work until none is due at the clock's now and none is running here.

        Future work is left for later: this is how ``docket_testing`` runs due
        work inline through the real worker path.
        """
        await self._run(until_finished=False, until_idle=True)

    # -- the claim loop ---------------------------------------------------

    async def _claim_loop(self, until_finished: bool, until_idle: bool = False) -> None:
        # While this loop runs it is the one writer of outcomes: it writes
        # them in its claims' round trips, so no flusher races it into a
        # round trip of its own.
        self._claim_loops += 1
        self._settlements.autoflush = False
        try:
            # Runs start in the context this loop was called in, not in the
            # quiet one its own storage traffic goes through.
            self._run_context = contextvars.copy_context()
            with internal_operations(self.enable_internal_instrumentation):
                await self._claim_until_done(until_finished, until_idle)
        finally:
            self._claim_loops -= 1
            if not self._claim_loops:
                self._settlements.autoflush = True

    async def _claim_until_done(self, until_finished: bool, until_idle: bool) -> None:
        engine = self.docket.engine
        clock = self.docket.clock
        stopping = self._stopping
        while not stopping.is_set():
            # Held work takes free slots before anything new is claimed for them.
            self._start_buffered()
            room = min(
                self.concurrency - len(self._occupied) + self._held.room(), self.message_batch
            )
            # Outcomes waiting here go in this claim's round trip; only those
            # a flusher is writing and that have not yet landed count against
            # the bound.
            writing = len(self._unsettled) - len(self._settlements)
            if len(self._occupied) + writing >= 2 * self.concurrency:
                # Outcomes are not being written (storage is slow or away):
                # stop claiming rather than pile up unsettled work.
                room = 0
            if room <= 0:
                if self._settlements:
                    await self._settlements.flush()
                    continue
                self._slot_freed.clear()
                # stop() sets _slot_freed too, so this wait needs no race.
                await self._slot_freed.wait()
                continue
            if self._fresh_starts:
                # Let the runs this loop just started reach their first await
                # before the round trip's send, which can hold the loop.
                self._fresh_starts = False
                await asyncio.sleep(0)
                if stopping.is_set():
                    break
            now = clock.now()
            runs_ended = self._runs_ended
            settling = self._settlements.take()
            try:
                if settling:
                    try:
                        applied, batch = await engine.settle_and_claim(
                            [settlement for settlement, _ in settling],
                            self.name,
                            room,
                            now,
                            now + self.redelivery_timeout,
                        )
                    except asyncio.CancelledError:
                        # Perhaps never sent: the batcher writes them when the
                        # worker drains (a second write of a settlement that did
                        # land is stale, and only acknowledges).
                        self._settlements.resubmit(settling)
                        raise
                    except Exception as error:
                        self._settlements.report(settling, [None] * len(settling), error)
                        raise
                    self._settlements.report(settling, applied, None)
                    # These outcomes landed before the claim looked: their
                    # callbacks' counts are not news to it.
                    runs_ended += len(settling)
                else:
                    batch = await engine.claim(self.name, room, now, now + self.redelivery_timeout)
            except Exception:
                logger.exception(
                    "Worker %r could not claim work; retrying in %s",
                    self.name,
                    self.reconnection_delay,
                )
                await self._wait_for(clock.sleep(self.reconnection_delay.total_seconds()))
                continue
            if stopping.is_set():
                # Asked to stop while claiming: start nothing new.
                await self._hand_back(batch.claims)
                break
            for claim in batch.claims:
                if claim.delivery in self._running or claim.delivery in self._unsettled:
                    # Our own run's lease lapsed (say a virtual clock jumped
                    # past it) and we reclaimed it: the reclaim renewed the
                    # lease, and the run is still going, so do not start it twice.
                    continue
                if len(self._occupied) < self.concurrency and not self._held:
                    self._start(claim)
                else:
                    # Behind what is already held, so due order is kept.
                    self._held.hold(claim, clock.monotonic())
                    self._holding.set()
            self._start_buffered()
            if (
                # A full claim: more may be waiting.  A short one took all
                # there was, and wait_for_work wakes for anything added since.
                len(batch.claims) >= room
                # A run ended while the claim was in flight: its outcome (a
                # retry or next run, due now) may have landed after it looked,
                # or waits here to be written.
                or self._runs_ended != runs_ended
                or self._settlements
            ):
                continue
            if until_idle:
                if self._idle():
                    break
                self._slot_freed.clear()
                await self._wait_for(self._slot_freed.wait(), engine.wait_for_work(batch.cursor))
                continue
            if until_finished and self._idle():
                counts = await engine.counts(now)
                if counts.total == 0:
                    break
            self._slot_freed.clear()
            waits = [engine.wait_for_work(batch.cursor), self._slot_freed.wait()]
            # Leases taken by other workers after this claim are not in
            # next_wake; looking again once per redelivery_timeout bounds how
            # long a dead worker's work can wait to be reclaimed.
            backstop = clock.now() + self.redelivery_timeout
            wake = backstop if batch.next_wake is None else min(batch.next_wake, backstop)
            waits.append(clock.sleep_until(wake))
            if until_finished and self._idle():
                # Work running on other workers ends without waking us.
                waits.append(clock.sleep(self.minimum_check_interval.total_seconds()))
            await self._wait_for(*waits)
        # What is held would wait for a run this loop no longer starts.
        await self._hand_back(self._held.take_all())

    async def _wait_for(self, *waits: Any) -> None:
        await first_of(self._stopping.wait(), *waits)

    def _idle(self) -> bool:
        """Nothing runs here, nothing is held, and every outcome is written."""
        return not self._running and not self._held and not self._unsettled

    def _start(self, claim: Claim, held: bool = False) -> None:
        """Start a runner for ``claim`` in a free slot."""
        task = asyncio.create_task(self._runner(claim, held))
        self._occupy(claim, task)
        self._fresh_starts = True

    def _occupy(self, claim: Claim, task: asyncio.Task[None]) -> None:
        self._running[claim.delivery] = task
        self._occupied[claim.delivery] = self.docket.clock.monotonic()

    async def _runner(self, claim: Claim, held: bool) -> None:
        """Run ``claim``, then held deliveries one after another while any wait.

        The next held run starts in this task as soon as the last one's body
        has ended, with no task to create and no turn of the loop in between:
        with short tasks that gap would otherwise be a real share of each
        slot's time.  Claiming and writing outcomes happen in the claim loop,
        after the runs just started have reached their first await.
        """
        base = self._run_context
        while True:
            try:
                # A context of its own per run, copied from the one the claim
                # loop was called in, as a task per run would have had.
                await in_context(self._runs.execute(claim, held), base.copy())
            finally:
                self._finished(claim.delivery)
            if self._stopping.is_set() or not self._held:
                return
            if len(self._occupied) >= self.concurrency:
                return
            claim, held = self._held.take(), True
            task = asyncio.current_task()
            assert task is not None
            self._occupy(claim, task)

    def _start_buffered(self) -> None:
        """Start held deliveries in whatever slots are free (never once stopping)."""
        if self._stopping.is_set():
            return
        while self._held and len(self._occupied) < self.concurrency:
            self._start(self._held.take(), held=True)

    def _finished(self, delivery: str) -> None:
        self._runs_ended += 1
        self._running.pop(delivery, None)
        self._free_slot(delivery)
        # Wake the claim loop even when the slot was released earlier: with
        # nothing left running, run_until_finished may be done.
        self._slot_freed.set()

    def _release_slot(self, delivery: str) -> None:
        """Free the slot of a run whose body has ended; its runner takes held work next."""
        if self._free_slot(delivery):
            self._slot_freed.set()

    def _free_slot(self, delivery: str) -> bool:
        started = self._occupied.pop(delivery, None)
        if started is None:
            return False
        self._held.run_ended(self.docket.clock.monotonic() - started)
        return True

    async def _hand_back(self, claims: Sequence[Claim]) -> None:
        """Return claimed, never started deliveries to the queue for any worker."""
        if not claims:
            return
        try:
            await self.docket.engine.release(
                self.name, [claim.delivery for claim in claims], self.docket.clock.now()
            )
        except Exception:
            logger.warning(
                "Worker %r could not hand back %d held deliveries; they return when "
                "their leases expire",
                self.name,
                len(claims),
                exc_info=True,
            )

    # -- settling ---------------------------------------------------------

    async def _set_aside(self, claim: Claim, reason: str) -> None:
        record = claim.record
        try:
            await self.docket.engine.set_aside(
                claim.delivery,
                reason,
                self.docket.clock.now(),
                self.docket.execution_ttl,
                key=record.key if record else None,
                generation=record.generation if record else None,
            )
        except Exception:
            logger.exception(
                "Could not set aside delivery %s; its lease will expire", claim.delivery
            )

    def _settle(
        self,
        claim: Claim,
        execution: Execution,
        state: ExecutionState,
        *,
        result: bytes | None = None,
        error: str | None = None,
        reschedule: TaskMessage | None = None,
        exception: BaseException | None = None,
        wait_for: SlotWait | None = None,
        cancelled: bool = False,
    ) -> None:
        """Hand the run's outcome to the batcher; the run ends without waiting for it.

        Until the outcome is written its delivery stays in ``_unsettled``: its
        lease is still renewed, and the worker does not count itself idle.
        ``cancelled`` marks a run that ``Docket.cancel`` ended: its record
        already says so, and this settlement only acknowledges the delivery.
        """
        delivery = claim.delivery
        self._unsettled.add(delivery)
        self._release_slot(delivery)
        settlement = Settlement(
            delivery=delivery,
            key=execution.key,
            generation=execution.generation,
            state=state,
            completed_at=self.docket.clock.now(),
            ttl=self.docket.execution_ttl,
            result=result,
            error=error,
            reschedule=reschedule,
            wait_for=wait_for,
            started_at=(
                execution.started_at
                if claim.record is not None and execution.started_at != claim.record.started_at
                else None
            ),
        )

        def settled(applied: bool | None, failure: BaseException | None) -> None:
            self._unsettled.discard(delivery)
            # The outcome (a retry, a perpetual's next run) is in storage now:
            # a claim in flight may have looked before it landed.
            self._runs_ended += 1
            self._slot_freed.set()
            if failure is not None:
                logger.error(
                    "Could not record the outcome of %s; it will be redelivered after its lease",
                    execution.call_repr(),
                    exc_info=failure,
                    extra=self._runs.log_context(execution),
                )
            elif not applied and not cancelled:
                logger.info(
                    "↬ %s (superseded)",
                    execution.call_repr(),
                    extra=self._runs.log_context(execution),
                )
            else:
                for observer in self._observers:
                    observer(execution, state, exception)

        self._settlements.submit(settlement, settled)

    # -- background loops -------------------------------------------------

    def _on_cancellation(self, notice: Cancellation) -> None:
        """``Docket.cancel`` ended a delivery this worker holds: interrupt or skip its run."""
        held = notice.delivery in self._running or notice.delivery in self._held.deliveries()
        self._runs.cancellations.request(notice.delivery, notice.generation, held)

    async def _interrupt_cancelled(self, lost: set[str]) -> set[str]:
        """Interrupt runs whose lease was lost because their work was cancelled; return those.

        The backstop for a cancellation notice that pub/sub dropped; a lease
        lost any other way (another worker reclaimed it) leaves the run be.
        """
        docket = self.docket
        cancelled: set[str] = set()
        for delivery in lost:
            running = self._runs.cancellations.running(delivery)
            if running is None:
                continue
            key, generation = running
            try:
                record = await docket.engine.get_record(key, docket.clock.now())
            except Exception:
                logger.warning("Worker %r could not read %r", self.name, key, exc_info=True)
                continue
            if (
                record is not None
                and record.generation == generation
                and record.state is ExecutionState.CANCELLED
            ):
                cancelled.add(delivery)
                self._runs.cancellations.request(delivery, generation, held=False)
        return cancelled

    async def _heartbeat_loop(self) -> None:
        docket = self.docket
        interval = docket.heartbeat_interval.total_seconds()
        dead_after = docket.heartbeat_interval * docket.missed_heartbeats
        while True:
            try:
                now = docket.clock.now()
                await docket.engine.heartbeat(self.name, frozenset(docket.tasks), now, dead_after)
                counts = await docket.engine.counts(now)
                DEPTHS[(docket.name, self.name)] = (counts.queued, counts.future)
            except Exception:
                logger.warning("Worker %r could not send its heartbeat", self.name, exc_info=True)
            await docket.clock.sleep(interval)

    async def _renewal_loop(self) -> None:
        docket = self.docket
        period = self.redelivery_timeout.total_seconds() / 4
        while True:
            await docket.clock.sleep(period)
            if self._idle():
                continue
            deliveries = [
                *self._running,
                *self._unsettled.difference(self._running),
                *self._held.deliveries(),
            ]
            now = docket.clock.now()
            try:
                lost = await docket.engine.renew(
                    self.name, deliveries, now + self.redelivery_timeout
                )
            except Exception:
                logger.warning("Worker %r could not renew its leases", self.name, exc_info=True)
                continue
            cancelled = await self._interrupt_cancelled(set(lost))
            for delivery in set(lost) - cancelled:
                logger.warning(
                    "Worker %r lost the lease on delivery %s; another worker may run it too",
                    self.name,
                    delivery,
                )

    async def _hold_loop(self) -> None:
        """Hand back deliveries held longer than ``scheduling_resolution``."""
        clock = self.docket.clock
        while True:
            expiry = self._held.next_expiry()
            if expiry is None:
                self._holding.clear()
                await self._holding.wait()
                continue
            delay = expiry - clock.monotonic()
            if delay > 0:
                await clock.sleep(delay)
                continue
            await self._hand_back(self._held.expired(clock.monotonic()))
            # Room to claim may have changed; let the claim loop look again.
            self._slot_freed.set()

    def __repr__(self) -> str:
        return f"Worker(docket={self.docket.name!r}, name={self.name!r}, concurrency={self.concurrency})"
