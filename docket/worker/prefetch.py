"""Prefetch: the claimed deliveries a worker holds beyond its free slots.

Holding a few claimed deliveries lets a slot that frees start the next run at
once, instead of after a claim round trip; with short tasks that round trip is
most of the gap between one run and the next.  Holding work has a cost too:
what one worker holds, an idle worker elsewhere cannot take.  So a held
delivery that has not started within the hold limit is handed back to the
queue, prefetching then pauses until a run here ends, and in automatic mode
the worker only prefetches once its runs have shown themselves short: while
their running average stays under half the hold limit.  Long tasks gain
nothing from prefetch, and a worker that has not yet seen a run end holds
nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from docket.engines.base import Claim

__all__ = ["HeldDeliveries"]

# Weight of the newest run in the running average of run durations.
_SMOOTHING = 0.2


class HeldDeliveries:
    """Deliveries claimed ahead of a free slot, oldest first, and the policy for holding more.

    ``limit`` is how many may be held; None means automatic: as many as the
    worker has slots, once runs have shown themselves short.  ``hold_seconds``
    is the longest a delivery may wait here before it is handed back.
    """

    def __init__(self, limit: int | None, concurrency: int, hold_seconds: float) -> None:
        self.automatic = limit is None
        self.limit = concurrency if limit is None else limit
        self.hold_seconds = hold_seconds
        self._held: deque[tuple[Claim, float]] = deque()
        self.suspects = 0
        """How many held deliveries are suspects (they wait to run alone)."""
        self._paused = False
        # Starts at the limit: automatic prefetch opens only after short runs.
        self._average_run = hold_seconds

    def __bool__(self) -> bool:
        return bool(self._held)

    def deliveries(self) -> Iterator[str]:
        """The delivery ids held now."""
        return (claim.delivery for claim, _ in self._held)

    def room(self) -> int:
        """How many more deliveries may be claimed to hold, now."""
        if self._paused or self.limit == 0:
            return 0
        if self.automatic and self._average_run >= self.hold_seconds / 2:
            return 0
        return max(0, self.limit - len(self._held))

    def hold(self, claim: Claim, now: float) -> None:
        """Keep ``claim``, claimed at monotonic time ``now``, until a slot frees."""
        self._held.append((claim, now))
        self.suspects += claim.suspect

    def next(self) -> Claim:
        """The oldest held delivery, left in place."""
        return self._held[0][0]

    def take(self) -> Claim:
        """The oldest held delivery, to start now."""
        claim = self._held.popleft()[0]
        self.suspects -= claim.suspect
        return claim

    def take_all(self) -> list[Claim]:
        """Every held delivery, to hand back."""
        claims = [claim for claim, _ in self._held]
        self._held.clear()
        self.suspects = 0
        return claims

    def run_ended(self, seconds: float) -> None:
        """Note a run of this worker that took ``seconds``; a slot is free again."""
        self._paused = False
        self._average_run += _SMOOTHING * (seconds - self._average_run)

    def next_expiry(self) -> float | None:
        """When (monotonic) the oldest held delivery reaches the hold limit."""
        if not self._held:
            return None
        return self._held[0][1] + self.hold_seconds

    def expired(self, now: float) -> list[Claim]:
        """Take out the deliveries held for the hold limit or longer.

        Prefetching pauses until a run ends: this worker's slots are taken by
        runs longer than the limit, and claiming more would only hold them too.
        """
        expired: list[Claim] = []
        while self._held and self._held[0][1] + self.hold_seconds <= now:
            expired.append(self.take())
        if expired:
            self._paused = True
        return expired
