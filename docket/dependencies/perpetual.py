"""``Perpetual``: a task that schedules its own next run under the same key.

This module owns when a perpetual task runs next and with what arguments.  The
worker applies the decision atomically with settling the run (same key, new
generation, attempt 1), so a chain is never broken between "done" and "next".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from docket.dependencies.base import CompletionHandler, TaskOutcome, run_copy
from docket.dependencies.context import current_execution
from docket.timeutil import duration_seconds

if TYPE_CHECKING:
    from docket.clock import Clock
    from docket.execution import Execution

__all__ = ["Perpetual"]


def _duration(value: timedelta | float, parameter: str) -> timedelta:
    """``value`` as a non-negative timedelta; errors name ``parameter``."""
    duration_seconds(value, parameter)
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def _aware(when: datetime, parameter: str) -> datetime:
    if not isinstance(when, datetime):
        raise TypeError(f"{parameter} must be a datetime, got {when!r}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{parameter} must be timezone-aware, got {when!r}")
    return when


class Perpetual(CompletionHandler["Perpetual"]):
    """Run the task again after every run, on success and on final failure.

    The next run is due ``every`` after this run *started*
    (``max(now, now + every - duration)``), unless the task chose otherwise
    through its injected copy::

        async def poll(perpetual: Perpetual = Perpetual(every=timedelta(minutes=5))):
            perpetual.perpetuate(cursor=...)   # the next run's arguments
            perpetual.after(timedelta(seconds=30))  # or .at(when), or .cancel()

    ``cancel()`` ends the chain: the run is recorded CANCELLED (not COMPLETED;
    a run that also raised stays FAILED) and nothing is scheduled; an
    automatic task comes back at the next reseed.  A failure that ``Retry`` retries is not a
    completion: the retry runs first, and the chain continues after it.  With
    ``automatic=True`` a worker seeds the task under the key ``fn.__name__``
    (see ``docket.worker.seeding``); such a task must not require arguments.
    """

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    single = True

    def __init__(self, every: timedelta = timedelta(0), automatic: bool = False) -> None:
        if not isinstance(automatic, bool):
            raise TypeError(f"automatic must be a bool, got {automatic!r}")
        self.every = every
        self.automatic = automatic
        # Per-run state: only meaningful on the copy ``__aenter__`` returns.
        self.args: tuple[Any, ...] = ()
        self.kwargs: dict[str, Any] = {}
        self.cancelled = False
        self._perpetuated = False
        self._next_when: datetime | None = None
        self._clock: Clock | None = None

    @property
    def every(self) -> timedelta:
        """The interval between run starts; a run may change it for the next run."""
        return self._every

    @every.setter
    def every(self, value: timedelta) -> None:
        self._every = _duration(value, "every")

    async def __aenter__(self) -> Any:
        # The declared default is shared by every run of the task; each run
        # gets its own copy so cancel()/perpetuate() never leak across runs.
        execution = current_execution.get()
        run = run_copy(self)
        run.args = execution.args
        run.kwargs = dict(execution.kwargs)
        run.cancelled = False
        run._perpetuated = False
        run._next_when = None
        run._clock = execution.docket.clock
        return run

    @property
    def initial_when(self) -> datetime | None:
        """When an automatic seed first runs this task: None, meaning at once (pydocket's)."""
        return None

    def first_run_at(self, now: datetime) -> datetime:
        """When an automatic seed made at ``now`` (the docket clock's) first runs this task."""
        return now

    def cancel(self) -> None:
        """Stop the chain: this run ends CANCELLED and no next run is scheduled."""
        self.cancelled = True

    def perpetuate(self, *args: Any, **kwargs: Any) -> None:
        """Give the next run these arguments instead of this run's."""
        self.args = args
        self.kwargs = kwargs
        self._perpetuated = True

    def after(self, delay: timedelta) -> None:
        """Run next ``delay`` from now (measured when called, on the docket's clock)."""
        delay = _duration(delay, "delay")
        self._next_when = self._now() + delay

    def at(self, when: datetime) -> None:
        """Run next at the aware datetime ``when`` (a past time means at once)."""
        self._next_when = _aware(when, "when")

    def _now(self) -> datetime:
        clock = self._clock
        if clock is None:
            # Not the injected copy (e.g. the declaration itself): use the
            # running task's docket, if there is one.
            try:
                clock = current_execution.get().docket.clock
            except LookupError:
                raise RuntimeError(
                    "after() needs a docket clock; call it on the Perpetual injected into a task"
                ) from None
        return clock.now()

    def next_when(self, now: datetime, duration: timedelta) -> datetime:
        """When the next run is due, for a run that took ``duration`` and ended at ``now``."""
        if self._next_when is not None:
            return self._next_when
        return max(now, now + self.every - duration)

    async def on_complete(self, execution: Execution, outcome: TaskOutcome) -> bool:
        if self.cancelled:
            # The worker records the run CANCELLED instead of COMPLETED.  After
            # a final failure the run stays FAILED; either way nothing follows.
            outcome.cancelled = True
            return False
        outcome.next_run_at = self.next_when(execution.docket.clock.now(), outcome.duration)
        if self._perpetuated:
            outcome.next_arguments = (tuple(self.args), dict(self.kwargs))
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(every={self.every!r}, automatic={self.automatic!r})"
