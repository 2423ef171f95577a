"""``Progress``: the running execution's progress reporter, as a dependency.

``Progress`` is a class, as in pydocket, so clients subclass it (fastmcp's
own ``Progress`` falls back to an in-memory reporter when ``__aenter__``
raises ``LookupError`` outside a run).  Unlike pydocket's, entering it gives
each run its own reporter (a copy of the declared default bound to that
run's ``ExecutionProgress``), so two concurrent runs of one task never
report into each other's progress.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docket.dependencies.base import Dependency, run_copy
from docket.dependencies.context import current_execution

if TYPE_CHECKING:
    from docket.execution import ExecutionProgress

__all__ = ["Progress"]


class Progress(Dependency["Progress"]):
    """Report how far the run has got, for anyone watching the execution::

        async def import_records(path: str, progress: Progress = Progress()) -> None:
            await progress.set_total(len(records))
            for record in records:
                await progress.increment()
                await progress.set_message(f"imported {record.id}")

    ``current`` is None until the run starts, ``total`` 100 until set.  Outside
    a run, entering it raises ``LookupError``; reading or reporting through a
    ``Progress`` that was never entered raises ``RuntimeError``.
    """

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    def __init__(self) -> None:
        self._progress: ExecutionProgress | None = None

    async def __aenter__(self) -> Progress:
        execution = current_execution.get()  # LookupError outside a run
        run = run_copy(self)
        run._progress = execution.progress
        return run

    @property
    def _bound(self) -> ExecutionProgress:
        if self._progress is None:
            raise RuntimeError(
                "Progress must be used as a dependency: declare it as a parameter "
                "default (progress: Progress = Progress()) and use the injected value"
            )
        return self._progress

    @property
    def current(self) -> int | None:
        """How many steps are done (None before the run has started)."""
        return self._bound.current

    @property
    def total(self) -> int:
        """How many steps there are (100 until set)."""
        return self._bound.total

    @property
    def message(self) -> str | None:
        """What the run last said it was doing, or None."""
        return self._bound.message

    async def set_total(self, total: int) -> None:
        """Declare how many steps the run has; ``total`` must be at least 1."""
        await self._bound.set_total(total)

    async def increment(self, amount: int = 1) -> None:
        """Count ``amount`` more steps done; ``amount`` must be at least 1."""
        await self._bound.increment(amount)

    async def set_message(self, message: str | None) -> None:
        """Say what the run is doing now; None clears the message."""
        await self._bound.set_message(message)

    def __repr__(self) -> str:
        if self._progress is None:
            return "Progress()"
        return f"Progress(current={self.current}, total={self.total}, message={self.message!r})"
