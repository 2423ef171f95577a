"""The flow-control operations of the engine seam: sliding windows, concurrency slots, debounces.

A gate is named by the caller (a task's Cooldown, RateLimit, ConcurrencyLimit
or Debounce); a holder is the run passing through it.  Every decision is made
against the caller's ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from docket.engines.records import Debounced

__all__ = ["DEBOUNCE_MEMORY", "GateOperations"]

DEBOUNCE_MEMORY = 10
"""A debounce gate quiet for this many times its settle period is forgotten."""


class GateOperations(Protocol):
    """Letting runs through gates: windows (``admit``), slots and debounces."""

    async def admit(
        self, gate: str, holder: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        """Let ``holder`` through ``gate`` unless ``limit`` holders went through in the last ``window``.

        A holder let through at ``t`` counts while ``now < t + window``.  A
        holder still counted is let through again without counting twice (a
        redelivered run).  Returns None when ``holder`` is let through (and
        counted from ``now``), else the moment the earliest counted holder
        stops counting.
        """
        ...

    async def withdraw(self, gate: str, holder: str) -> None:
        """Stop counting ``holder`` at ``gate`` (it was let through but did not run)."""
        ...

    async def acquire_slot(
        self, gate: str, holder: str, now: datetime, limit: int, lease_until: datetime
    ) -> bool:
        """Take one of ``limit`` slots at concurrency ``gate`` for ``holder`` until ``lease_until``.

        A slot whose lease has expired by ``now`` is free again (its holder
        died).  A holder that already has a slot keeps it, with the new lease
        (a renewal, or a redelivered run).  False when every slot is taken.
        """
        ...

    async def release_slot(self, gate: str, holder: str, now: datetime, limit: int) -> None:
        """Give ``holder``'s slot at ``gate`` back, and wake the first run parked there.

        The woken run (see ``Settlement.wait_for``) becomes due at ``now``;
        parked runs that were since cancelled or rescheduled are skipped.
        Nothing is woken unless a slot is free.
        """
        ...

    async def debounce(self, gate: str, holder: str, now: datetime, settle: timedelta) -> Debounced:
        """Decide whether ``holder``'s run goes ahead through the debounce ``gate``.

        The first holder to arrive holds the gate and waits until ``settle``
        has passed since the gate last saw a call; any other holder arriving
        meanwhile is dropped and counts as a call.  A holder whose gate has
        been quiet for ``settle`` runs, and the gate opens for a new first
        call.  A gate quiet for ``DEBOUNCE_MEMORY`` times ``settle`` is
        forgotten, so a holder that never came back cannot close it for good.
        """
        ...
