"""``Progress``: the running execution's own progress reporter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from docket.execution import ExecutionProgress

from docket.dependencies.base import Dependency
from docket.dependencies.context import current_execution

__all__ = ["Progress"]


class _Progress(Dependency):
    """Injects the run's ``ExecutionProgress``::

        async def import_records(path: str, progress: ExecutionProgress = Progress()):
            await progress.set_total(len(records))
            await progress.increment()

    Each run gets its own progress object (never the shared default), so two
    concurrent runs of one task report separately.
    """

    async def __aenter__(self) -> Any:
        return current_execution.get().progress


def Progress() -> ExecutionProgress:
    """The run's own ``ExecutionProgress`` (see ``_Progress``), typed as the injected value."""
    return cast("ExecutionProgress", _Progress())
