"""Seeding automatic perpetual and cron tasks, and keeping them seeded.

This module owns finding the registered tasks that declare
``Perpetual(automatic=True)`` or ``Cron(...)`` and scheduling each under the
key ``fn.__name__``.  A key that is still scheduled, queued or running makes
``add`` a no-op, so seeding is idempotent; re-seeding periodically is what
heals a chain that was cancelled, struck and restored, or lost.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from docket.clock_rounds import sleeping_until_wanted
from docket.dependencies.perpetual import Perpetual
from docket.dependencies.resolution import declared_dependencies
from docket.timeutil import duration_seconds

if TYPE_CHECKING:
    from docket.docket import Docket
    from docket.execution import Execution

__all__ = [
    "automatic_perpetual",
    "has_automatic_tasks",
    "reseed_forever",
    "seed_automatic_tasks",
]

logger = logging.getLogger("docket.automatic")


_AUTOMATIC: WeakKeyDictionary[Callable[..., Any], Perpetual | None] = WeakKeyDictionary()
"""What ``automatic_perpetual`` found for each function: reseeding asks again
every minute of (perhaps virtual) time, and the answer only depends on the
function's signature."""


def automatic_perpetual(function: Callable[..., Any]) -> Perpetual | None:
    """The ``Perpetual`` (or ``Cron``) that makes ``function`` automatic, if any.

    Raises ValueError if it is automatic but has parameters with no default:
    a seeded run has no arguments to give them.
    """
    try:
        return _AUTOMATIC[function]
    except (KeyError, TypeError):  # not seen yet, or cannot be remembered
        pass
    perpetual = _automatic_perpetual(function)
    try:
        _AUTOMATIC[function] = perpetual
    except TypeError:  # not weakly referenceable: asked afresh each time
        pass
    return perpetual


def _automatic_perpetual(function: Callable[..., Any]) -> Perpetual | None:
    perpetual = next(
        (
            dependency
            for dependency in declared_dependencies(function)
            if isinstance(dependency, Perpetual) and dependency.automatic
        ),
        None,
    )
    if perpetual is None:
        return None
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return perpetual
    required = [
        p.name
        for p in parameters
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise ValueError(
            f"automatic task {getattr(function, '__name__', function)!r} must not require "
            f"arguments, but requires {', '.join(required)}; give them defaults or drop "
            f"automatic=True and schedule it yourself"
        )
    return perpetual


async def seed_automatic_tasks(docket: Docket) -> list[Execution]:
    """Schedule every automatic task not already live; return what ``add`` returned.

    Each task is seeded once (however many names it is registered under),
    with key ``fn.__name__`` and due at its ``first_run_at`` (now for a
    Perpetual, the next match for a Cron).  A task that cannot be seeded (it
    requires arguments, say) is logged and skipped so the others still are;
    errors from the docket's storage propagate.
    """
    seeded: list[Execution] = []
    seen: set[int] = set()
    for name, function in list(docket.tasks.items()):
        if id(function) in seen:
            continue
        seen.add(id(function))
        try:
            perpetual = automatic_perpetual(function)
        except ValueError as error:
            logger.error("Not seeding %s: %s", name, error)
            continue
        if perpetual is None:
            continue
        key = getattr(function, "__name__", name)
        # Schedule by a name it is registered under, preferring its own, so
        # seeding never registers an aliased function under a new name.
        registered = key if docket.tasks.get(key) is function else name
        try:
            when = perpetual.first_run_at(docket.clock.now())
        except ValueError as error:  # a cron expression with no future match
            logger.error("Not seeding %s: %s", name, error)
            continue
        execution = await docket.add(registered, when=when, key=key)()
        logger.debug("Seeded automatic task %s: %s", key, execution.disposition.value)
        seeded.append(execution)
    return seeded


async def reseed_forever(
    docket: Docket,
    interval: timedelta = timedelta(seconds=60),
    *,
    delay_first: bool = False,
) -> None:
    """Seed automatic tasks every ``interval`` on the docket's clock, until cancelled.

    Errors are logged, never raised, so one bad round does not end the loop.
    With ``delay_first`` the first round waits one ``interval`` (for a caller
    that has just seeded).  A round due while no automatic task is registered
    is skipped, as it would seed nothing.
    """
    seconds = duration_seconds(interval, "interval")
    if seconds <= 0:
        raise ValueError(f"interval must be positive, got {interval!r}")

    def wanted() -> bool:
        # A round with nothing automatic registered would seed nothing, so
        # none is woken for (registering one later is seen at the next).
        return has_automatic_tasks(docket)

    if delay_first:
        await sleeping_until_wanted(docket.clock, seconds, wanted, a_deadline=False)
    while True:
        try:
            await seed_automatic_tasks(docket)
        except Exception:
            logger.exception("Could not seed the automatic tasks of docket %r", docket.name)
        await sleeping_until_wanted(docket.clock, seconds, wanted, a_deadline=False)


def has_automatic_tasks(docket: Docket) -> bool:
    """Whether any task registered on ``docket`` is automatic (one that cannot be seeded counts)."""
    # Asked on every jump of a VirtualClock past a reseeding round: the
    # answer is kept for as long as the same functions are registered.
    functions = tuple(docket.tasks.values())
    known = _HAS_AUTOMATIC.get(docket)
    if known is not None and known[0] == functions:
        return known[1]
    answer = _has_automatic(functions)
    _HAS_AUTOMATIC[docket] = (functions, answer)
    return answer


_HAS_AUTOMATIC: WeakKeyDictionary[Docket, tuple[tuple[Any, ...], bool]] = WeakKeyDictionary()


def _has_automatic(functions: tuple[Any, ...]) -> bool:
    for function in functions:
        try:
            if automatic_perpetual(function) is not None:
                return True
        except ValueError:
            return True
    return False
