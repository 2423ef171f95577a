"""Run one coroutine in a context of its own, inside a task that runs many.

A worker's slot runs held deliveries one after another in a single task, to
start each next run without creating a task.  asyncio gives a task one
context for its whole life, so without help a context variable set by one run
(a logging context bound and never cleared, say) would still be set in the
next run in that slot.  ``in_context`` drives the run's coroutine so each of
its steps executes in a context given to that run alone, which is what a task
per run would have given it.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from contextvars import Context
from typing import Any, TypeVar

__all__ = ["in_context"]

T = TypeVar("T")


class in_context:  # noqa: N801 - used like a function: ``await in_context(coro, ctx)``
    """Await ``coroutine`` with every step of it run inside ``context``.

    What the coroutine yields (futures, or None for a bare yield) passes
    through to the enclosing task untouched; what the task sends or throws
    (results, ``CancelledError``) passes back in, inside ``context``.
    """

    __slots__ = ("_context", "_coroutine")

    def __init__(self, coroutine: Coroutine[Any, Any, T], context: Context) -> None:
        self._coroutine = coroutine
        self._context = context

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine = self._coroutine
        run = self._context.run
        send, throw = coroutine.send, coroutine.throw
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                if error is None:
                    yielded = run(send, value)
                else:
                    yielded, error = run(throw, error), None
            except StopIteration as stop:
                return stop.value
            try:
                value = yield yielded
            except GeneratorExit:
                run(coroutine.close)
                raise
            except BaseException as thrown:
                value, error = None, thrown
