"""The run history: every run that ``run_due`` and ``advance`` drove, per docket.

The helpers observe each settled run through ``Worker.observe`` and record it
here as a ``Run``: which task, with which arguments, under which key, which
attempt, when it was due, when it started on the docket's clock, and how it
ended.  ``run_history`` reads a docket's record and ``clear_run_history``
empties it.  The record belongs to the ``Docket`` object (held weakly, so it
goes away with the docket): two tests, or two dockets in one test, never see
each other's runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any
from weakref import WeakKeyDictionary

from docket import Docket, Execution, ExecutionState
from docket.frozen import build_frozen

__all__ = [
    "DESCRIBED_RUNS",
    "Run",
    "clear_run_history",
    "describe_call",
    "describe_runs",
    "record_run",
    "run_history",
]


@dataclass(frozen=True)
class Run:
    """One run of a task, as ``run_due``/``advance`` saw it settle.

    ``function_name``, ``args``, ``kwargs``, ``key``, ``attempt`` and ``when``
    (the due time) are those of the execution that ran; the argument values
    are the run's own objects, not copies.  ``started_at`` is when the run
    started on the docket's clock (virtual time under a ``VirtualClock``).
    ``state`` is how the run ended, as ``run_due`` reports it: ``COMPLETED``,
    ``FAILED``, ``CANCELLED``, or ``QUEUED`` when the key's next run was
    scheduled in its place (a retry, a perpetual task's next run).
    ``error`` is ``"Type: message"`` of the exception the task raised, if it
    raised one, and ``exception`` that exception.
    """

    function_name: str
    args: tuple[Any, ...]
    kwargs: MappingProxyType[str, Any]
    key: str
    attempt: int
    when: datetime
    started_at: datetime
    state: ExecutionState
    error: str | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    @property
    def call(self) -> str:
        """The call as a test reads it: ``name(args, k=v) key='...'`` (see ``describe_call``)."""
        return describe_call(self)


def describe_call(work: Execution | Run) -> str:
    """``name(args, k=v) key='...'`` for an execution or a run, every argument shown.

    Unlike log lines, which cap what they quote, a failing test shows every
    argument: they are the test's own data, and the mismatch is what the
    reader needs.
    """
    arguments = [repr(a) for a in work.args]
    arguments += [f"{k}={v!r}" for k, v in work.kwargs.items()]
    return f"{work.function_name}({', '.join(arguments)}) key={work.key!r}"


_HISTORIES: WeakKeyDictionary[Docket, list[Run]] = WeakKeyDictionary()
_RUN_DEFAULTS: dict[str, Any] = {"error": None, "exception": None}
"""The defaulted fields of a ``Run`` (``record_run`` names every other)."""


def record_run(
    docket: Docket,
    execution: Execution,
    state: ExecutionState,
    exception: BaseException | None,
) -> Run:
    """Append the run of ``execution`` that ended in ``state`` to ``docket``'s history.

    ``started_at`` falls back to the clock's now when the execution does not
    say when it started.  Returns the recorded ``Run``.
    """
    started_at = execution.started_at
    # Every run a helper drives is recorded: built without the frozen
    # dataclass's per-field __init__ (docket.frozen), as docket's own records are.
    run = build_frozen(
        Run,
        _RUN_DEFAULTS,
        function_name=execution.function_name,
        args=tuple(execution.args),
        kwargs=MappingProxyType(dict(execution.kwargs)),
        key=execution.key,
        attempt=execution.attempt,
        when=execution.when,
        started_at=started_at if started_at is not None else docket.clock.now(),
        state=state,
        error=None if exception is None else f"{type(exception).__name__}: {exception}",
        exception=exception,
    )
    _HISTORIES.setdefault(docket, []).append(run)
    return run


def _checked(docket: Docket) -> Docket:
    if not isinstance(docket, Docket):
        raise TypeError(f"docket must be a Docket, got {docket!r}")
    return docket


def run_history(docket: Docket) -> list[Run]:
    """Every run ``run_due``/``advance`` drove on ``docket``, in the order they settled.

    Returns a new list each call (later runs do not appear in it); empty when
    nothing ran or since ``clear_run_history``.
    """
    return list(_HISTORIES.get(_checked(docket), ()))


def clear_run_history(docket: Docket) -> None:
    """Forget every run recorded for ``docket``; later runs are recorded afresh."""
    _HISTORIES.pop(_checked(docket), None)


DESCRIBED_RUNS = 50
"""How many runs a failure message lists before it says how many more there were."""


def describe_runs(runs: Sequence[Run]) -> str:
    """One line per run: virtual start time, call, attempt and how it ended.

    Lists the last ``DESCRIBED_RUNS`` runs (saying how many earlier ones are
    left out), or says that nothing ran.
    """
    if not runs:
        return "  (nothing ran)"
    shown = runs[-DESCRIBED_RUNS:]
    lines = (
        [f"  … {len(runs) - len(shown)} earlier run(s) not shown"] if len(shown) < len(runs) else []
    )
    for run in shown:
        ending = run.state.value + (f": {run.error}" if run.error else "")
        attempt = f" attempt {run.attempt}" if run.attempt != 1 else ""
        lines.append(f"  {run.started_at.isoformat()}  {run.call}{attempt}  [{ending}]")
    return "\n".join(lines)
