"""``Worker.run_at_most``'s bounds: how many runs each key or task name may start.

A run over its bound ends CANCELLED without starting (``running.py``); the
bounds and counts live here, one set per worker, reset whenever they are set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from docket.execution import Execution

__all__ = ["RunLimits"]


class RunLimits:
    """``Worker.run_at_most``'s bounds: how many runs each key or task may start."""

    def __init__(self) -> None:
        self._limits: dict[str, int] | None = None
        self._started: Counter[str] = Counter()

    def set(self, limits: Mapping[str, int] | None) -> None:
        """Bound runs by key or task name from now on (None lifts every bound)."""
        self._limits = None if limits is None else dict(limits)
        self._started = Counter()

    def spent(self, execution: Execution) -> bool:
        """Whether this run is over its key's or task's bound (a run within it is counted)."""
        limits = self._limits
        if limits is None:
            return False
        names = {execution.key, execution.function_name}
        if any(name in limits and self._started[name] >= limits[name] for name in names):
            return True
        for name in names:
            if name in limits:
                self._started[name] += 1
        return False
