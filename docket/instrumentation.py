"""OpenTelemetry for docket: producer and run spans, counters, histograms and gauges.

Only opentelemetry-api is required; without an SDK configured every call here
is a cheap no-op.  Counters and histograms also count into
``docket.local_metrics.LOCAL`` when the metrics port turns it on, so that it
serves them without the SDK.  Metric labels are bounded on purpose: the docket name, the
task name, the worker name and where a decision was made, never a task key.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from types import ModuleType

from opentelemetry import context, metrics, propagate, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from docket.local_metrics import LOCAL, Described

__all__ = [
    "Counter",
    "DEPTHS",
    "Histogram",
    "SECONDS_BUCKETS",
    "TASKS_ADDED",
    "TASKS_CANCELLED",
    "TASKS_COMPLETED",
    "TASKS_FAILED",
    "TASKS_REDELIVERED",
    "TASKS_RETRIED",
    "TASKS_SCHEDULED",
    "TASKS_STARTED",
    "TASKS_STRICKEN",
    "TASK_DURATION",
    "TASK_PUNCTUALITY",
    "depths_wanted",
    "internal_operations",
    "producer_span",
    "run_span",
    "trace_headers",
]

tracer = trace.get_tracer("docket")
meter = metrics.get_meter("docket")


class Counter:
    """A counter recorded through OpenTelemetry and, when it is on, into ``LOCAL``."""

    __slots__ = ("_instrument", "name")

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self._instrument = meter.create_counter(name, description=description)
        LOCAL.describe(name, Described("counter", description, ""))

    def add(self, amount: float, attributes: Mapping[str, str] | None = None) -> None:
        """Add ``amount`` for ``attributes``."""
        self._instrument.add(amount, attributes)
        if LOCAL.enabled:
            LOCAL.add(self.name, amount, attributes)


class Histogram:
    """A histogram in seconds recorded through OpenTelemetry and, when it is on, into ``LOCAL``."""

    __slots__ = ("_instrument", "name")

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self._instrument = meter.create_histogram(
            name,
            unit="s",
            description=description,
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        LOCAL.describe(name, Described("histogram", description, "s", SECONDS_BUCKETS))

    def record(self, value: float, attributes: Mapping[str, str] | None = None) -> None:
        """Count ``value`` (seconds) for ``attributes``."""
        self._instrument.record(value, attributes)
        if LOCAL.enabled:
            LOCAL.record(self.name, value, attributes)


SECONDS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip
"""Histogram bucket bounds for durations in seconds, 1 ms to 1 h.  The SDK's
default bounds (0, 5, 10, 25 ... 10,000) suit milliseconds: in seconds they
would put every run shorter than five seconds in one bucket."""

TASKS_ADDED = Counter("docket_tasks_added", "Tasks added or replaced")
TASKS_SCHEDULED = Counter(
    "docket_tasks_scheduled", "Tasks stored (not already scheduled, not struck)"
)
TASKS_STARTED = Counter("docket_tasks_started", "Task runs started")
TASKS_COMPLETED = Counter("docket_tasks_completed", "Task runs that returned")
TASKS_FAILED = Counter("docket_tasks_failed", "Task runs that raised")
TASKS_RETRIED = Counter("docket_tasks_retried", "Retries arranged")
TASKS_CANCELLED = Counter("docket_tasks_cancelled", "Tasks cancelled")
TASKS_REDELIVERED = Counter("docket_tasks_redelivered", "Deliveries reclaimed from expired leases")
TASKS_STRICKEN = Counter("docket_tasks_stricken", "Tasks refused by strikes")
TASK_DURATION = Histogram("docket_task_duration", "How long task runs took")
TASK_PUNCTUALITY = Histogram("docket_task_punctuality", "How late task runs started against when")

DEPTHS: dict[tuple[str, str], tuple[int, int]] = {}
"""Last (queue depth, schedule depth) each worker saw, by (docket, worker)."""


def depths_wanted() -> bool:
    """Whether anything reads ``DEPTHS``: a real OpenTelemetry meter provider
    (its depth gauges), or the metrics port's own collector.

    Checked on every heartbeat, so that a worker counts its docket (a walk
    over every record on the memory twin) only when the count is reported.
    """
    global _metered
    if _metered or LOCAL.enabled:
        return True
    # As for traces: the API keeps the installed provider in a module global
    # (set once, for good), far cheaper to read than get_meter_provider().
    installed = getattr(_metrics_state, "_METER_PROVIDER", _UNKNOWN)
    if installed is None and not _METER_PROVIDER_FROM_ENVIRONMENT:
        return False
    provider = metrics.get_meter_provider()
    # Until a real one is installed the API hands out a stand-in (its proxy),
    # which it names no public class for.
    _metered = not isinstance(provider, metrics.NoOpMeterProvider) and (
        type(provider).__name__ != "_ProxyMeterProvider"
    )
    return _metered


_metered = False
_UNKNOWN = object()

_metrics_state: ModuleType | None
try:
    # Where the API keeps the installed meter provider (as for traces above);
    # should a later release move it, depths_wanted asks get_meter_provider().
    _metrics_state = importlib.import_module("opentelemetry.metrics._internal")
except ImportError:  # pragma: no cover - depends on the installed API
    _metrics_state = None
_METER_PROVIDER_FROM_ENVIRONMENT = bool(os.environ.get("OTEL_PYTHON_METER_PROVIDER"))


def _queue_depth(options: CallbackOptions) -> Iterator[Observation]:
    for (docket, worker), (queued, _) in list(DEPTHS.items()):
        yield Observation(queued, {"docket.name": docket, "docket.worker": worker})


def _schedule_depth(options: CallbackOptions) -> Iterator[Observation]:
    for (docket, worker), (_, future) in list(DEPTHS.items()):
        yield Observation(future, {"docket.name": docket, "docket.worker": worker})


meter.create_observable_gauge(
    "docket_queue_depth", callbacks=[_queue_depth], description="Work due and waiting"
)
meter.create_observable_gauge(
    "docket_schedule_depth", callbacks=[_schedule_depth], description="Work scheduled for later"
)


def tracing_enabled() -> bool:
    """Whether an OpenTelemetry SDK (or any real provider) has been installed.

    Checked on every use, since an application may install its provider after
    importing docket; without one, spans are skipped entirely, which keeps the
    per-task hot path free of no-op span bookkeeping.
    """
    global _tracing
    if _tracing:
        return True
    # The API keeps the installed provider in a module global; reading it is
    # far cheaper than get_tracer_provider(), which consults the environment.
    if getattr(trace, "_TRACER_PROVIDER", None) is None and not _PROVIDER_FROM_ENVIRONMENT:
        return False
    _tracing = not isinstance(
        trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
    )
    return _tracing


_tracing = False
_PROVIDER_FROM_ENVIRONMENT = bool(os.environ.get("OTEL_PYTHON_TRACER_PROVIDER"))


def trace_headers() -> dict[str, str]:
    """The current trace context as message headers (empty when nothing is traced)."""
    if not tracing_enabled():
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


_NO_SPAN: AbstractContextManager[Span] = nullcontext(trace.INVALID_SPAN)
"""What the span helpers give when nothing is traced: reusable, and free to enter."""


def producer_span(
    operation: str, docket: str, attributes: Mapping[str, str | datetime]
) -> AbstractContextManager[Span]:
    """A PRODUCER span for ``docket.add``, ``docket.replace``, ``docket.cancel`` and so on."""
    if not tracing_enabled():
        return _NO_SPAN
    return _producer_span(operation, docket, attributes)


@contextmanager
def _producer_span(
    operation: str, docket: str, attributes: Mapping[str, str | datetime]
) -> Iterator[Span]:
    with tracer.start_as_current_span(
        f"docket.{operation}",
        kind=SpanKind.PRODUCER,
        # Datetimes are formatted here, only when a span is really made.
        attributes={
            "docket.name": docket,
            **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in attributes.items()},
        },
    ) as span:
        yield span


def run_span(
    function_name: str,
    headers: Mapping[str, str],
    *,
    docket: str,
    worker: str,
    key: str,
    when: datetime,
    attempt: int,
) -> AbstractContextManager[Span]:
    """The CONSUMER span of one run, linked to the producer's span carried in ``headers``."""
    if not tracing_enabled():
        return _NO_SPAN
    return _run_span(function_name, headers, docket, worker, key, when, attempt)


@contextmanager
def _run_span(
    function_name: str,
    headers: Mapping[str, str],
    docket: str,
    worker: str,
    key: str,
    when: datetime,
    attempt: int,
) -> Iterator[Span]:
    links: list[Link] = []
    if headers:
        producer = trace.get_current_span(propagate.extract(dict(headers))).get_span_context()
        if producer.is_valid:
            links.append(Link(producer))
    with tracer.start_as_current_span(
        function_name,
        kind=SpanKind.CONSUMER,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
        attributes={
            "docket.name": docket,
            "docket.worker": worker,
            "docket.task": function_name,
            "docket.key": key,
            "docket.when": when.isoformat(),
            "docket.attempt": attempt,
            "code.function.name": function_name,
        },
    ) as span:
        yield span


def mark_failed(span: Span, error: BaseException) -> None:
    """Record ``error`` on the run span and mark it failed."""
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


def mark_ok(span: Span) -> None:
    """Mark the run span successful (nothing to do when the run is not traced)."""
    if span is not trace.INVALID_SPAN:
        span.set_status(Status(StatusCode.OK))


@contextmanager
def _suppressed() -> Iterator[None]:
    # The key OpenTelemetry's own instrumentations (redis-py's among them)
    # check before they make a span; the plain string is what older ones read.
    current = context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True)
    current = context.set_value("suppress_instrumentation", True, current)
    token = context.attach(current)
    try:
        yield
    finally:
        context.detach(token)


def internal_operations(enabled: bool) -> AbstractContextManager[None]:
    """The context for docket's own storage traffic (claims, heartbeats, leases, follows).

    Unless ``enabled`` (``enable_internal_instrumentation=True``), it tells
    OpenTelemetry instrumentations to make no spans there, so traces show the
    work, not the polling.  Runs of tasks are never inside it.
    """
    return nullcontext() if enabled else _suppressed()
