"""``TaskLogger``: a logger that carries the running task's context."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, cast

from docket.dependencies.base import Dependency
from docket.dependencies.context import current_execution, current_worker

__all__ = ["TaskLogger"]


class _TaskLoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the task's context to every record's ``extra``."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


class _TaskLogger(Dependency["logging.LoggerAdapter[logging.Logger]"]):
    """A ``logging.LoggerAdapter`` for ``docket.task.<function>`` whose records carry
    ``docket.name``, ``docket.worker``, ``docket.task``, ``docket.key``,
    ``docket.when`` and ``docket.attempt`` as ``extra``::

        async def task(logger: logging.LoggerAdapter = TaskLogger()): ...
    """

    resolves_alone = True
    """Resolves from the run alone (``docket.dependencies.alone``)."""

    async def __aenter__(self) -> logging.LoggerAdapter[logging.Logger]:
        execution = current_execution.get()
        worker = current_worker.get(None)
        return _TaskLoggerAdapter(
            logging.getLogger(f"docket.task.{execution.function_name}"),
            {
                "docket.name": execution.docket.name,
                "docket.worker": worker.name if worker is not None else None,
                "docket.task": execution.function_name,
                "docket.key": execution.key,
                "docket.when": execution.when.isoformat(),
                "docket.attempt": execution.attempt,
            },
        )


def TaskLogger() -> logging.LoggerAdapter[logging.Logger]:
    """A logger carrying the task's context (see ``_TaskLogger``), typed as the injected value."""
    return cast("logging.LoggerAdapter[logging.Logger]", _TaskLogger())
