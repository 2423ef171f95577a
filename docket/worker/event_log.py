"""The worker's log lines, in words: one line per thing that happens to a run.

Every line the worker writes about a run (started, completed, failed and
retrying, gave up, set aside, cancelled, struck, superseded) and about
itself (starting, losing and regaining its storage) is worded here, so the
wording is in one place.  A run's line names its call as ``task(args){key}``
with control characters escaped (``docket.printable``), and carries
``docket.name``, ``docket.worker``, ``docket.task``, ``docket.key`` and
``docket.attempt`` as fields, plus ``docket.duration`` or
``docket.lateness`` in seconds, which JSON logs show as they are.

A failure that will be retried is a WARNING without a traceback; the
failure that ends the run is an ERROR with it.  Lines go to the
``docket.worker`` logger, as pydocket's did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from docket.execution import Execution
from docket.printable import printable
from docket.urls import redact_url
from docket.worker.outcomes import capped, log_context

__all__ = [
    "ConnectionTrouble",
    "log_blocked",
    "log_cancelled",
    "log_completed",
    "log_failed",
    "log_retrying",
    "log_set_aside",
    "log_started",
    "log_struck",
    "log_superseded",
    "log_unstorable_result",
    "log_worker_started",
    "looks_like_outage",
    "say_duration",
]

logger = logging.getLogger("docket.worker")


def say_duration(seconds: float) -> str:
    """A short duration in words: ``12ms``, ``2s``, ``7.2s``, ``4m 12s``, ``3h 5m``."""
    seconds = max(0.0, seconds)
    if seconds < 0.9995:  # what would round to 1000ms reads as a second
        return f"{seconds * 1000:.0f}ms"
    if seconds < 59.95:  # what would round to 60.0 reads as a minute
        return f"{seconds:.1f}".removesuffix(".0") + "s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


def _call(execution: Execution) -> str:
    return printable(execution.call_repr())


def _error(error: BaseException) -> str:
    return printable(capped(f"{type(error).__name__}: {error}"))


def _context(execution: Execution, worker: str, **measures: float) -> dict[str, Any]:
    context = log_context(execution, worker)
    for name, seconds in measures.items():
        context[f"docket.{name}"] = seconds
    return context


def log_started(execution: Execution, worker: str, lateness: float) -> None:
    """``Started task(args){key}, 3ms late``; later attempts and redeliveries say so."""
    if not logger.isEnabledFor(logging.INFO):
        return
    notes = ""
    if execution.attempt > 1:
        notes += f", attempt {execution.attempt}"
    if execution.redelivered:
        notes += ", redelivered"
    logger.info(
        "Started %s%s, %s late",
        _call(execution),
        notes,
        say_duration(lateness),
        extra=_context(execution, worker, lateness=max(0.0, lateness)),
    )


def log_completed(
    execution: Execution, worker: str, duration: float, next_run: datetime | None = None
) -> None:
    """``Completed task(args){key} in 12ms``, with when the next run is if one was arranged."""
    if not logger.isEnabledFor(logging.INFO):
        return
    after = ""
    if next_run is not None:
        after = f"; next run in {say_duration(_until(execution, next_run))}"
    logger.info(
        "Completed %s in %s%s",
        _call(execution),
        say_duration(duration),
        after,
        extra=_context(execution, worker, duration=duration),
    )


def log_retrying(
    execution: Execution,
    worker: str,
    duration: float,
    error: BaseException,
    retry_at: datetime,
    attempts: int | None,
) -> None:
    """``Failed ... ; retrying in 2s, attempt 2 of 3`` at WARNING, without a traceback."""
    of = f" of {attempts}" if attempts is not None else ""
    logger.warning(
        "Failed %s in %s (%s); retrying in %s, attempt %d%s",
        _call(execution),
        say_duration(duration),
        _error(error),
        say_duration(_until(execution, retry_at)),
        execution.attempt + 1,
        of,
        extra=_context(execution, worker, duration=duration),
    )


def log_failed(
    execution: Execution,
    worker: str,
    duration: float,
    error: BaseException,
    *,
    gave_up: bool = False,
    next_run: datetime | None = None,
) -> None:
    """The failure that ends a run, at ERROR with its traceback.

    ``gave_up``: its retries are spent (``gave up after 3 attempts``);
    ``next_run``: a handler (``Perpetual``) arranged the key's next run.
    """
    after = ""
    if gave_up:
        after = f"; gave up after {execution.attempt} attempts"
    if next_run is not None:
        after += f"; next run in {say_duration(_until(execution, next_run))}"
    logger.error(
        "Failed %s in %s (%s)%s",
        _call(execution),
        say_duration(duration),
        _error(error),
        after,
        exc_info=error,
        extra=_context(execution, worker, duration=duration),
    )


def log_unstorable_result(
    execution: Execution, worker: str, duration: float, error: BaseException
) -> None:
    """A run whose returned value cannot be stored: it failed, at ERROR."""
    logger.error(
        "Failed %s in %s: its result cannot be stored (%s)",
        _call(execution),
        say_duration(duration),
        _error(error),
        extra=_context(execution, worker, duration=duration),
    )


def log_cancelled(
    execution: Execution, worker: str, duration: float | None = None, *, itself: bool = False
) -> None:
    """``Cancelled task(args){key}`` before it started, after it ran a while, or by itself."""
    if duration is None:
        when, extra = " before it started", _context(execution, worker)
    else:
        by = ": it stopped itself" if itself else ""
        when, extra = (
            f"{by} after {say_duration(duration)}",
            _context(execution, worker, duration=duration),
        )
    logger.info("Cancelled %s%s", _call(execution), when, extra=extra)


def log_blocked(execution: Execution, worker: str, reason: str, retry_in: float | None) -> None:
    """Admission control kept a run from starting: tried again in ``retry_in``, or dropped."""
    then = "dropped" if retry_in is None else f"trying again in {say_duration(retry_in)}"
    logger.debug(
        "Blocked %s (%s); %s",
        _call(execution),
        printable(capped(reason)),
        then,
        extra=log_context(execution, worker),
    )


def log_struck(execution: Execution, worker: str) -> None:
    """A run a strike refused: ``Struck task(args){key}: not run``, at WARNING."""
    logger.warning("Struck %s: not run", _call(execution), extra=log_context(execution, worker))


def log_superseded(execution: Execution, worker: str) -> None:
    """A run whose outcome was not written: the key was replaced or cancelled meanwhile."""
    logger.info(
        "Superseded %s: the key was replaced or cancelled while it ran; outcome not recorded",
        _call(execution),
        extra=log_context(execution, worker),
    )


def log_set_aside(what: str, reason: str) -> None:
    """``Set aside <what> as a dead letter: <reason>``, at ERROR (``what`` is shown escaped)."""
    logger.error(
        "Set aside %s as a dead letter: %s", printable(capped(what)), printable(capped(reason))
    )


def log_worker_started(
    worker: str,
    docket: str,
    url: str,
    concurrency: int,
    tasks: Iterable[str],
) -> None:
    """The worker's first line: its name, docket, URL (password masked), concurrency, tasks."""
    names = sorted(tasks)
    logger.info(
        "Starting worker %s on docket %s at %s, concurrency %d, %d task%s: %s",
        printable(repr(worker)),
        printable(repr(docket)),
        printable(redact_url(url)),
        concurrency,
        len(names),
        "" if len(names) == 1 else "s",
        printable(", ".join(names)),
    )


class ConnectionTrouble:
    """Words and waits for a loop that keeps trying to reach storage.

    One line when it starts failing (a WARNING; an ERROR with the traceback
    when the error does not look like an outage, so a bug is not hidden),
    quiet DEBUG lines for each retry, waits that double from
    ``FIRST_RETRY`` up to the loop's own delay, and one line when it is back:
    ``reconnected after 7.2s``.
    """

    FIRST_RETRY = 0.25
    """Seconds before the first retry (or the loop's delay, if shorter)."""

    def __init__(self, worker: str, what: str) -> None:
        self.worker = worker
        self.what = what
        self.since: float | None = None
        self.retries = 0

    def failed(self, error: BaseException, now: float, longest: float) -> float:
        """Another failed try at ``now`` (monotonic seconds): log it, return the wait."""
        who = printable(repr(self.worker))
        if self.since is None:
            self.since, self.retries = now, 0
            outage = looks_like_outage(error)
            logger.log(
                logging.WARNING if outage else logging.ERROR,
                "Worker %s cannot %s (%s); retrying with backoff",
                who,
                self.what,
                _error(error),
                exc_info=None if outage else error,
            )
        else:
            self.retries += 1
        wait: float = min(longest, self.FIRST_RETRY * 2.0 ** min(self.retries, 16))
        logger.debug(
            "Worker %s: try %d to %s failed (%s); next in %s",
            who,
            self.retries + 1,
            self.what,
            _error(error),
            say_duration(wait),
            exc_info=error,
        )
        return wait

    def succeeded(self, now: float) -> None:
        """A try that worked: say how long storage was out, once."""
        if self.since is None:
            return
        outage, self.since = now - self.since, None
        logger.info(
            "Worker %s reconnected after %s",
            printable(repr(self.worker)),
            say_duration(outage),
            extra={"docket.worker": self.worker, "docket.outage": outage},
        )


def looks_like_outage(error: BaseException) -> bool:
    """Whether ``error`` says storage is out of reach (a connection or time-out error),
    rather than something a traceback would help with."""
    # redis-py's ConnectionError and TimeoutError are not the builtins.
    if isinstance(error, (OSError, TimeoutError)):
        return True
    return any(
        "Connection" in kind.__name__ or "Timeout" in kind.__name__ or "Busy" in kind.__name__
        for kind in type(error).__mro__
    )


def _until(execution: Execution, when: datetime) -> float:
    return (when - execution.docket.clock.now()).total_seconds()
