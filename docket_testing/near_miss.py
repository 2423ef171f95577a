"""Near misses: work due a moment after the instant a test moved the clock to.

When ``advance`` lands on its target and work is due less than a second
later, that work did not run, and the usual reason is application code that
took "now" from ``datetime.now()`` while the docket runs on a virtual clock:
the wall clock has moved on a few milliseconds since the virtual clock was
set, so the work lands just past the target.  This module finds such work,
words the hint, and warns (``NearMissWarning``) at the end of ``run_due`` and
``advance``; the assertions add the same hint to their failure messages.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from docket import Docket, Execution, VirtualClock
from docket_testing.history import describe_call

__all__ = [
    "NEAR_MISS_WINDOW",
    "WALL_CLOCK_HINT",
    "NearMissWarning",
    "describe_near_miss",
    "describe_near_misses",
    "due_just_after",
    "format_delay",
    "warn_near_misses",
]

NEAR_MISS_WINDOW = timedelta(seconds=1)
"""Work due later than an instant by less than this is a near miss of that instant."""

WALL_CLOCK_HINT = (
    "the application may be reading the wall clock (datetime.now()) while the docket "
    "runs on a virtual clock; take time from the docket's clock instead, see "
    "docs/testing.md 'Application clocks'"
)
"""What a near miss usually means, in the words every hint uses."""

_LISTED = 5
"""How many near misses one message names before it says how many more there are."""


class NearMissWarning(UserWarning):
    """``run_due`` or ``advance`` returned with work due less than a second after its target.

    ``target`` is the clock's now when the helper returned; ``executions``
    the pending work due just after it (earliest first).  Work that ran
    during the same call under the same key (a perpetual task's next run, a
    retry), and any retry at all, is not a near miss: docket scheduled it
    from its own clock.
    Silence it in a test that means to stop just short of due work with
    ``pytest.mark.filterwarnings("ignore::docket_testing.NearMissWarning")``.
    """

    def __init__(self, message: str, target: datetime, executions: Sequence[Execution]) -> None:
        super().__init__(message)
        self.target = target
        self.executions = list(executions)


def due_just_after(
    executions: Iterable[Execution], instant: datetime, window: timedelta = NEAR_MISS_WINDOW
) -> list[Execution]:
    """The executions due after ``instant`` by less than ``window``, in the order given."""
    return [e for e in executions if instant < e.when < instant + window]


def format_delay(delta: timedelta) -> str:
    """A short delay as a reader wants it: ``"3 ms"`` under a second, else ``"1.5 s"``."""
    if delta < timedelta(seconds=1):
        return f"{delta / timedelta(milliseconds=1):g} ms"
    return f"{delta.total_seconds():g} s"


def describe_near_miss(execution: Execution, instant: datetime, instant_is: str) -> str:
    """``<call> is due <delay> after <instant_is> (<when>)`` for one near miss."""
    return (
        f"{describe_call(execution)} is due {format_delay(execution.when - instant)} "
        f"after {instant_is} ({execution.when.isoformat()})"
    )


def describe_near_misses(
    executions: Sequence[Execution], instant: datetime, instant_is: str
) -> str:
    """The near misses of ``instant`` as indented lines, at most a few named."""
    lines = [f"  {describe_near_miss(e, instant, instant_is)}" for e in executions[:_LISTED]]
    if len(executions) > _LISTED:
        lines.append(f"  … and {len(executions) - _LISTED} more")
    return "\n".join(lines)


async def warn_near_misses(
    docket: Docket, *, ran: Collection[str], helper: str, stacklevel: int
) -> None:
    """Warn ``NearMissWarning`` if work is due just after the clock's now.

    Only a ``VirtualClock`` is checked: on the system clock time moves by
    itself and work due in a moment is ordinary.  Keys in ``ran`` (those that
    ran during the helper's call) are left out.  ``helper`` names the helper
    in the message; ``stacklevel`` is what the helper would pass to
    ``warnings.warn`` if it warned itself (2 points at its caller).
    """
    if not isinstance(docket.clock, VirtualClock):
        return
    now = docket.clock.now()
    snapshot = await docket.snapshot()
    # A retry (attempt > 1) was scheduled by docket from its own clock too.
    near = [e for e in due_just_after(snapshot.future, now) if e.key not in ran and e.attempt == 1]
    if not near:
        return
    message = (
        f"{helper} stopped at {now.isoformat()} and this work, due just after, did not run:\n"
        f"{describe_near_misses(near, now, 'the target')}\n"
        f"Work due a moment after the target usually means {WALL_CLOCK_HINT}. "
        f"A test that stops just short on purpose can ignore NearMissWarning."
    )
    warnings.warn(NearMissWarning(message, now, near), stacklevel=stacklevel + 1)
