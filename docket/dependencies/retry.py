"""Retrying a task that raised: ``Retry`` and ``ExponentialRetry``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from docket.dependencies.base import FailureHandler, TaskOutcome, run_copy
from docket.dependencies.context import current_execution
from docket.timeutil import duration_seconds

if TYPE_CHECKING:
    from docket.execution import Execution

__all__ = ["ExponentialRetry", "ForcedRetry", "Retry"]


class ForcedRetry(Exception):
    """Raised by ``Retry.after``/``Retry.at`` to end this attempt and retry."""


class Retry(FailureHandler["Retry"]):
    """Run a failing task again, up to ``attempts`` runs in total.

    ``attempts=None`` retries forever.  ``delay`` is the wait before each
    retry.  The injected value is a per-run copy whose ``attempt`` is the
    1-based number of this run::

        async def flaky(retry: Retry = Retry(attempts=3, delay=timedelta(seconds=5))): ...
    """

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    single = True

    def __init__(self, attempts: int | None = 1, delay: timedelta = timedelta(0)) -> None:
        if attempts is not None and (
            not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1
        ):
            raise ValueError(f"attempts must be a positive integer or None, got {attempts!r}")
        duration_seconds(delay, "delay")
        if not isinstance(delay, timedelta):
            delay = timedelta(seconds=float(delay))
        self.attempts = attempts
        self.delay = delay
        self.attempt = 1
        self._forced_at: datetime | None = None

    @classmethod
    def forever(cls, delay: timedelta = timedelta(0)) -> Retry:
        """Retry without limit, waiting ``delay`` between runs."""
        return cls(attempts=None, delay=delay)

    async def __aenter__(self) -> Any:
        run = run_copy(self)
        run.attempt = current_execution.get().attempt
        run._forced_at = None
        return run

    def after(self, delay: timedelta) -> NoReturn:
        """End this attempt now and retry after ``delay``; it counts as an attempt."""
        seconds = duration_seconds(delay, "delay")
        self._forced_at = current_execution.get().docket.clock.now() + timedelta(seconds=seconds)
        raise ForcedRetry(f"retry forced after {delay}")

    def at(self, when: datetime) -> NoReturn:
        """End this attempt now and retry at the aware datetime ``when``."""
        if not isinstance(when, datetime) or when.tzinfo is None:
            raise ValueError(f"when must be a timezone-aware datetime, got {when!r}")
        self._forced_at = when
        raise ForcedRetry(f"retry forced at {when.isoformat()}")

    def in_(self, delay: timedelta) -> NoReturn:
        """Deprecated spelling of ``after``, kept for pydocket's callers."""
        self.after(delay)

    def delay_after(self, attempt: int) -> timedelta:
        """The wait before the run that follows run number ``attempt``."""
        return self.delay

    async def handle_failure(self, execution: Execution, outcome: TaskOutcome) -> bool:
        if self.attempts is not None and execution.attempt >= self.attempts:
            return False
        if isinstance(outcome.exception, ForcedRetry) and self._forced_at is not None:
            outcome.retry_at = self._forced_at
        else:
            outcome.retry_at = execution.docket.clock.now() + self.delay_after(execution.attempt)
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(attempts={self.attempts!r}, delay={self.delay!r})"


class ExponentialRetry(Retry):
    """Retry with delays that double from ``minimum_delay`` up to ``maximum_delay``."""

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    def __init__(
        self,
        attempts: int | None = 1,
        minimum_delay: timedelta = timedelta(seconds=1),
        maximum_delay: timedelta = timedelta(seconds=64),
    ) -> None:
        super().__init__(attempts=attempts, delay=minimum_delay)
        duration_seconds(maximum_delay, "maximum_delay")
        if maximum_delay < minimum_delay:
            raise ValueError(
                f"maximum_delay must be at least minimum_delay ({minimum_delay!r}), "
                f"got {maximum_delay!r}"
            )
        self.minimum_delay = minimum_delay
        self.maximum_delay = maximum_delay

    @classmethod
    def forever(  # type: ignore[override]
        cls,
        minimum_delay: timedelta = timedelta(seconds=1),
        maximum_delay: timedelta = timedelta(seconds=64),
    ) -> ExponentialRetry:
        """Retry without limit, with doubling delays."""
        return cls(attempts=None, minimum_delay=minimum_delay, maximum_delay=maximum_delay)

    def delay_after(self, attempt: int) -> timedelta:
        # Cap the exponent: a forever-retrying task must not overflow timedelta.
        factor = 2.0 ** min(max(0, attempt - 1), 60)
        seconds = self.minimum_delay.total_seconds() * factor
        return min(timedelta(seconds=min(seconds, 1e9)), self.maximum_delay)
