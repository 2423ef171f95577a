"""``ConcurrencyLimit``: at most N runs at once, per task or per argument value.

A run that finds every slot taken is parked, not polled: it goes back to
storage waiting for a slot, and the run that gives a slot back wakes the
first one parked (see ``Settlement.wait_for``).  A slot is leased like the
run's own delivery, for the worker's ``redelivery_timeout`` and renewed while
the run lasts, so a worker that dies frees its slots when their leases run
out; a parked run falls back to trying again after that long.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from docket.dependencies.base import AdmissionBlocked
from docket.dependencies.context import current_worker
from docket.dependencies.gates import Gated, check_scope
from docket.engines.base import SlotWait
from docket.racing import cancel_and_wait

if TYPE_CHECKING:
    from docket.docket import Docket
    from docket.execution import Execution

__all__ = ["ConcurrencyBlocked", "ConcurrencyLimit"]

logger = logging.getLogger("docket.dependencies")

RENEWALS_PER_LEASE = 3
"""A held slot's lease is renewed this many times per lease length."""


class ConcurrencyBlocked(AdmissionBlocked):
    """Every slot at a concurrency gate was taken: the run waits for one.

    The run is parked at ``concurrency_key`` until a slot is given back, and
    tried again after ``retry_delay`` at the latest.
    """

    def __init__(
        self,
        execution: Execution,
        concurrency_key: str,
        max_concurrent: int,
        *,
        retry_delay: timedelta | None = None,
    ) -> None:
        super().__init__(
            execution,
            f"concurrency limit ({max_concurrent} max) on {concurrency_key}",
            retry_delay=retry_delay,
        )
        self.concurrency_key = concurrency_key
        self.max_concurrent = max_concurrent
        self.wait_for = SlotWait(concurrency_key, max_concurrent)


class ConcurrencyLimit(Gated):
    """Let at most ``max_concurrent`` runs through the same gate at once.

    ``ConcurrencyLimit(max_concurrent=3)`` as a parameter default limits the
    task; ``ConcurrencyLimit("customer_id", max_concurrent=2)`` limits each
    value of the task's argument ``customer_id`` (its default when the caller
    leaves it out); as ``Annotated`` metadata
    (``customer_id: Annotated[int, ConcurrencyLimit(2)]``, where a lone
    number is ``max_concurrent``) it limits each value of that argument.
    Argument gates are shared by every task taking an argument of that name,
    within one ``scope``.  A run over the limit waits, parked, and starts as
    soon as a slot is given back.  At most one per task.
    """

    kind = "concurrency"
    single = True

    def __init__(
        self,
        argument_name: str | int | None = None,
        max_concurrent: int = 1,
        scope: str | None = None,
    ) -> None:
        if isinstance(argument_name, int) and not isinstance(argument_name, bool):
            if max_concurrent != 1:
                raise TypeError(
                    f"max_concurrent was given twice: {argument_name!r} and {max_concurrent!r}"
                )
            max_concurrent = argument_name
            argument_name = None
        if argument_name is not None and not isinstance(argument_name, str):
            raise TypeError(f"argument_name must be an argument name, got {argument_name!r}")
        if argument_name == "":
            raise ValueError(f"argument_name must be an argument name, got {argument_name!r}")
        if not isinstance(max_concurrent, int) or isinstance(max_concurrent, bool):
            raise TypeError(f"max_concurrent must be an int, got {max_concurrent!r}")
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent!r}")
        self.argument_name = argument_name
        self.max_concurrent = max_concurrent
        self.scope = check_scope(scope)
        self._holder: str | None = None
        self._renewal: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        named = "" if self.argument_name is None else f"{self.argument_name!r}, "
        scoped = "" if self.scope is None else f", scope={self.scope!r}"
        return f"ConcurrencyLimit({named}max_concurrent={self.max_concurrent}{scoped})"

    def check_task(self, function: Callable[..., Any]) -> None:
        """A named argument must be one of the task's parameters."""
        if self.argument_name is None:
            return
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            return
        if self.argument_name not in parameters:
            raise ValueError(
                f"ConcurrencyLimit({self.argument_name!r}): task "
                f"{getattr(function, '__name__', function)!r} has no argument {self.argument_name!r}"
            )

    def gate(self, execution: Execution) -> str:
        """The gate: the Annotated argument's value, else the named argument's, else the task."""
        if self._argument is None and self.argument_name is not None:
            try:
                value = execution.get_argument(self.argument_name)
            except KeyError:
                raise ValueError(
                    f"ConcurrencyLimit({self.argument_name!r}): task {execution.function_name!r} "
                    f"has no argument {self.argument_name!r}"
                ) from None
            return self.scoped(f"{self.kind}:argument:{self.argument_name}:{value}")
        return super().gate(execution)

    async def __aenter__(self) -> Any:
        docket, execution, now = self.running()
        lease = current_worker.get().redelivery_timeout
        gate = self.gate(execution)
        holder = f"{execution.key}:{execution.generation}"
        if not await docket.engine.acquire_slot(
            gate, holder, now, self.max_concurrent, now + lease
        ):
            raise ConcurrencyBlocked(execution, gate, self.max_concurrent, retry_delay=lease)
        self._holder = holder
        self._renewal = asyncio.create_task(self._renew(docket, gate, holder, lease))
        return self

    async def _renew(self, docket: Docket, gate: str, holder: str, lease: timedelta) -> None:
        """Keep the slot's lease ahead of the run, as the worker does for its delivery."""
        while True:
            await docket.clock.sleep(lease.total_seconds() / RENEWALS_PER_LEASE)
            now = docket.clock.now()
            try:
                kept = await docket.engine.acquire_slot(
                    gate, holder, now, self.max_concurrent, now + lease
                )
            except Exception as error:
                logger.warning("Could not renew the slot of %s at %s: %s", holder, gate, error)
                continue
            if not kept:
                logger.warning(
                    "The slot of %s at %s expired and was taken; it runs over the limit",
                    holder,
                    gate,
                )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._renewal is not None:
            await cancel_and_wait(self._renewal)
        if self._holder is None:
            return
        docket, execution, now = self.running()
        try:
            await docket.engine.release_slot(
                self.gate(execution), self._holder, now, self.max_concurrent
            )
        except Exception as error:
            # The slot's lease runs out by itself; the run's outcome matters more.
            logger.warning("Could not give back the slot of %s: %s", self._holder, error)
