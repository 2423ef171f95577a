"""``Worker``: runs the work of one docket, composed of the steps in this package.

``ClaimLoop`` takes due work into ``Slots``; each slot hands a claim to the
``DeliveryRunner``, which returns what became of it; the ``Settler`` writes
that outcome; ``Upkeep`` keeps heartbeats, leases and held work in order.
The worker owns their configuration and lifecycle: entering it starts the
upkeep and the shared dependency scope, leaving it stops claiming, lets
running work finish and its outcomes reach storage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from uncalled_for import FailedDependency

from docket.clock import VirtualClock
from docket.dependencies.base import Dependency
from docket.dependencies.functional import SharedScope
from docket.dependencies.resolution import (
    check_task_dependencies,
    single_conflicts,
    worker_dependencies,
)
from docket.docket import Docket
from docket.instrumentation import DEPTHS, internal_operations
from docket.racing import Signal, cancel_and_wait, until_set
from docket.worker.abandoning import Abandonment
from docket.worker.cancelling import follow_notices
from docket.worker.checks import (
    aware_or_none,
    default_worker_name,
    duration,
    flag,
    iteration_bounds,
    optional_count,
    positive_duration,
    positive_int,
)
from docket.worker.claiming import ClaimLoop
from docket.worker.entry import run_worker_entry
from docket.worker.prefetch import HeldDeliveries
from docket.worker.running import DeliveryRunner, TaskFunction
from docket.worker.seeding import reseed_forever, seed_automatic_tasks
from docket.worker.settling import SettlementObserver, Settler
from docket.worker.slots import Slots
from docket.worker.time_skipping import TimeSkipper
from docket.worker.upkeep import Upkeep

__all__ = ["Worker"]

logger = logging.getLogger("docket.worker")


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

    ``max_deliveries`` bounds how many runs of one execution may start and
    not finish: one whose workers keep dying while they run it (say killed
    for memory) is set aside as a dead letter past that many, and its
    execution ends FAILED, instead of taking down worker after worker
    forever.  Work reclaimed from an expired lease runs alone on its worker,
    so only the runs it really started count, and work that merely died
    beside a poison task is not blamed for it.  None removes the bound.

    ``unknown_task_grace``: work naming a task this worker does not know (a
    rolling deploy) goes back on the queue with backoff for this long before
    it is set aside as a dead letter; zero sets it aside at once.
    """

    run = classmethod(run_worker_entry)  # type: ignore[var-annotated]

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
        unknown_task_grace: timedelta = timedelta(minutes=10),
    ) -> None:
        if not isinstance(docket, Docket):
            raise TypeError(f"docket must be a Docket, got {docket!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None, got {name!r}")
        if fallback_task is not None and not callable(fallback_task):
            raise TypeError(f"fallback_task must be callable, got {fallback_task!r}")
        self.docket = docket
        self.name = name or default_worker_name()
        self.concurrency = positive_int(concurrency, "concurrency")
        self.redelivery_timeout = positive_duration(redelivery_timeout, "redelivery_timeout")
        self.reconnection_delay = positive_duration(reconnection_delay, "reconnection_delay")
        self.minimum_check_interval = positive_duration(
            minimum_check_interval, "minimum_check_interval"
        )
        self.scheduling_resolution = positive_duration(
            scheduling_resolution, "scheduling_resolution"
        )
        self.schedule_automatic_tasks = schedule_automatic_tasks
        self.enable_internal_instrumentation = flag(
            enable_internal_instrumentation, "enable_internal_instrumentation"
        )
        self.message_batch = positive_int(message_batch, "message_batch")
        self.prefetch = optional_count(prefetch, "prefetch", least=0)
        self.max_deliveries = optional_count(max_deliveries, "max_deliveries", least=1)
        self.unknown_task_grace = duration(unknown_task_grace, "unknown_task_grace")
        self.fallback_task = fallback_task
        self.dependencies: dict[str, Dependency[Any]] = worker_dependencies(dependencies)
        if fallback_task is not None:
            check_task_dependencies(fallback_task)
        self.shared_scope = SharedScope()
        self._conflicts: dict[Callable[..., Any], dict[str, FailedDependency]] = {}
        self._stopping = Signal()
        self._entered = 0
        self._background: list[asyncio.Task[None]] = []
        self._abandonment = Abandonment()

        self._runner = DeliveryRunner(self)
        held = HeldDeliveries(prefetch, concurrency, self.scheduling_resolution.total_seconds())
        self._settler = Settler(docket, self.name, self._note_written, self.redelivery_timeout)
        self._slots = Slots(
            concurrency, held, docket.clock, self._runner.run, self._settler, self._stopping
        )
        self._claims = ClaimLoop(
            self.name,
            docket.engine,
            docket.clock,
            self._slots,
            self._settler,
            self._stopping,
            message_batch=self.message_batch,
            redelivery_timeout=self.redelivery_timeout,
            reconnection_delay=self.reconnection_delay,
            minimum_check_interval=self.minimum_check_interval,
            internal_instrumentation=self.enable_internal_instrumentation,
        )
        self._upkeep = Upkeep(
            docket,
            self.name,
            self._slots,
            self._settler,
            self._runner.cancellations,
            self._claims,
            self.redelivery_timeout,
        )
        if isinstance(docket.clock, VirtualClock):
            self._claims.skipper = TimeSkipper(
                docket.clock, docket.engine, self._slots, self._upkeep.busy
            )

    def _note_written(self) -> None:
        self._slots.note_written()

    @property
    def abandoned(self) -> list[asyncio.Task[None]]:
        """Runs a stop that did not wait gave up on; one not done ignored its cancellation."""
        return self._abandonment.tasks

    @property
    def healthy(self) -> bool:
        """Claiming: a run method is going and its last claim reached storage.

        Only then does the worker heartbeat (``Docket.workers()`` lists it)
        and does the CLI's health check pass."""
        return self._claims.healthy

    @property
    def entered(self) -> bool:
        """Whether the worker's context is entered (its upkeep is running)."""
        return self._entered > 0

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

    @contextmanager
    def observe(self, observer: SettlementObserver) -> Iterator[None]:
        """Tell ``observer`` of every outcome this worker writes, while the block lasts."""
        self._settler.observers.append(observer)
        try:
            yield
        finally:
            self._settler.observers.remove(observer)

    # -- lifecycle --------------------------------------------------------

    async def __aenter__(self) -> Worker:
        self._entered += 1
        if self._entered == 1:
            self._stopping.clear()
            self._abandonment.reset()
            self.shared_scope = SharedScope()
            upkeep = self._upkeep
            subscribed = asyncio.Event()
            notices = self._background_task(
                follow_notices(
                    self.docket.engine,
                    self.name,
                    upkeep.on_cancellation,
                    subscribed,
                    self.docket.clock,
                    self.reconnection_delay,
                ),
                "cancellations",
            )
            self._background = [
                notices,
                self._background_task(upkeep.heartbeats(), "heartbeat"),
                self._background_task(upkeep.lease_renewals(), "leases"),
                self._background_task(upkeep.hold_expiry(), "held"),
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

    def _background_task(self, loop: Coroutine[Any, Any, None], job: str) -> asyncio.Task[None]:
        """Start one of the worker's own loops, as internal storage traffic."""

        async def quietly() -> None:
            with internal_operations(self.enable_internal_instrumentation):
                await loop

        return asyncio.create_task(quietly(), name=f"docket:{self.name}:{job}")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._entered -= 1
        if self._entered > 0:
            return
        self.stop()
        try:
            if self._abandonment.requested:
                self._abandonment.cancel(self._slots.running)
            elif exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                # Cancelled from outside: do not wait on running work, which
                # could take forever; like work of a worker that died, it is
                # redelivered once its leases expire (and counts as delivered).
                for task in self._slots.running.values():
                    task.cancel()
            await self._drain()
        finally:
            self._abandonment.requested = False
            await self._abandonment.hand_back(self._claims.release)
            await cancel_and_wait(*self._background)
            self._background = []
            self._runner.cancellations.clear()
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
        running = self._slots.running
        try:
            await self._claims.hand_back(self._slots.held.take_all())
            while running:
                await asyncio.wait(list(running.values()))
            await self._settler.batcher.drain()
        except asyncio.CancelledError:
            # A second stop request while draining: abandon running work, and
            # hand it back so another worker takes it at once.
            self._abandonment.cancel(self._slots.running)
            raise

    # -- public run methods -----------------------------------------------

    async def run_forever(self) -> None:
        """Claim and run work until cancelled or the worker is stopped."""
        await self._run(until_finished=False)

    async def run_until_finished(self) -> None:
        """Run work until no future, queued or running work remains."""
        await self._run(until_finished=True)

    async def run_until_idle(self, *, until: datetime | None = None) -> None:
        """Run work until none is due at the clock's now and none runs here.

        Future work is left for later (``docket_testing`` runs due work inline
        through this).  With ``until`` (an aware datetime), go on until the
        clock has reached it and then nothing is due or running: a
        ``VirtualClock`` jumps from each idle moment straight to the next due
        work (up to ``until``, never past it); any other clock waits for it.
        """
        horizon = aware_or_none(until, "until")
        await self._run(until_finished=False, until_idle=True, horizon=horizon)

    async def run_at_most(self, iterations_by_key: Mapping[str, int]) -> None:
        """Like ``run_until_finished``, but run each named key or task at most n times.

        Further deliveries of a key or task past its bound are cancelled, which
        is how a test bounds a self-rescheduling chain.
        """
        self._runner.limits.set(iteration_bounds(iterations_by_key))
        try:
            await self._run(until_finished=True)
        finally:
            self._runner.limits.set(None)

    def stop(self) -> None:
        """Ask the running loop to stop claiming; running work still finishes."""
        self._stopping.set()
        self._slots.freed.set()

    def abandon(self) -> None:
        """Make the coming cancellation of this worker's task a stop that does not
        wait: running work is cancelled and handed back for another worker at once."""
        self._abandonment.requested = True
        self.stop()

    def resume(self) -> None:
        """Undo ``stop()`` on an entered worker: its next ``run_*`` call claims again."""
        self._stopping.clear()

    async def _run(
        self, *, until_finished: bool, until_idle: bool = False, horizon: datetime | None = None
    ) -> None:
        if self._entered == 0:
            async with self:
                await self._claims.run(until_finished, until_idle, horizon)
        else:
            await self._claims.run(until_finished, until_idle, horizon)

    def __repr__(self) -> str:
        return (
            f"Worker(docket={self.docket.name!r}, name={self.name!r}, "
            f"concurrency={self.concurrency})"
        )
