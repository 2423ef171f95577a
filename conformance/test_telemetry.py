"""OpenTelemetry: producer spans, one CONSUMER span per run, counters, histograms, gauges.

Pinned here, with the SDK's in-memory exporters installed as the global
providers (docket's tracer and meter are API proxies made at import, so they
report to whatever provider is set globally, even later):

* ``docket.add`` / ``docket.replace`` / ``docket.cancel`` are PRODUCER spans
  carrying ``docket.name`` and ``docket.key``;
* each run is one CONSUMER span named after the task, with ``docket.name``,
  ``docket.worker``, ``docket.task``, ``docket.key``, ``docket.when`` and
  ``docket.attempt``, that LINKS to the producer span whose message it runs,
  for immediate, future (pydocket's trap 4), replaced and retried work;
* the status is ERROR with the exception recorded on each failed attempt and
  OK otherwise; spans the task makes are children of its run span;
* counters ``docket_tasks_added/scheduled/started/completed/failed/retried/
  cancelled/redelivered``, histograms ``docket_task_duration`` and
  ``docket_task_punctuality``, gauges ``docket_queue_depth`` and
  ``docket_schedule_depth`` (updated on heartbeat); no label is a task key.

The global providers can be set once per process: ``install_telemetry()``
does it on first use and is shared with ``tests/test_instrumentation.py``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from conformance.conftest import Target
from docket import Retry, Worker
from docket.instrumentation import SECONDS_BUCKETS


@dataclass
class Telemetry:
    """The in-memory span exporter and metric reader behind the global providers."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self, docket_name: str) -> list[ReadableSpan]:
        """Finished spans of one docket, oldest first."""
        return [
            span
            for span in self.exporter.get_finished_spans()
            if (span.attributes or {}).get("docket.name") == docket_name
        ]

    def named(self, docket_name: str, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans(docket_name) if span.name == name]

    def points(self, metric: str | None = None) -> Iterator[tuple[str, Any]]:
        """Every ``(metric name, data point)`` collected now (cumulative)."""
        data = self.reader.get_metrics_data()
        if data is None:
            return
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for found in scope.metrics:
                    if metric is None or found.name == metric:
                        for point in found.data.data_points:
                            yield found.name, point

    def total(self, metric: str, docket_name: str, **labels: str) -> float:
        """The sum of a counter (or count of a histogram) over one docket's points."""
        total: float = 0
        for _, point in self.points(metric):
            attributes = dict(point.attributes or {})
            if attributes.get("docket.name") != docket_name:
                continue
            if any(attributes.get(k) != v for k, v in labels.items()):
                continue
            total += point.count if hasattr(point, "count") else point.value
        return total

    def gauge(self, metric: str, docket_name: str, worker: str) -> float | None:
        """The last value a gauge reported for one docket and worker."""
        for _, point in self.points(metric):
            attributes = dict(point.attributes or {})
            if (
                attributes.get("docket.name") == docket_name
                and attributes.get("docket.worker") == worker
            ):
                return float(point.value)
        return None


@contextmanager
def releasing(*gates: asyncio.Event) -> Iterator[None]:
    """Open every gate on the way out, so that a failed assertion never leaves a
    run blocked (and the worker's exit waiting on it)."""
    try:
        yield
    finally:
        for gate in gates:
            gate.set()


_INSTALLED: Telemetry | None = None


def install_telemetry() -> Telemetry:
    """Set the global tracer and meter providers to in-memory ones, once per process."""
    global _INSTALLED
    if _INSTALLED is not None:
        return _INSTALLED
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    views = []
    if "aggregation_cardinality_limit" in inspect.signature(View.__init__).parameters:
        # Every test's docket has a name of its own, and the name is a label:
        # over a session that is thousands of series per metric, past the
        # SDK's default limit of 2,000 (beyond which series are merged).
        views.append(View(instrument_name="*", aggregation_cardinality_limit=1_000_000))
    meter_provider = MeterProvider(metric_readers=[reader], views=views)
    metrics.set_meter_provider(meter_provider)
    if trace.get_tracer_provider() is not tracer_provider:
        pytest.fail("another global TracerProvider was set before the telemetry tests ran")
    if metrics.get_meter_provider() is not meter_provider:
        pytest.fail("another global MeterProvider was set before the telemetry tests ran")
    _INSTALLED = Telemetry(exporter, reader)
    return _INSTALLED


@pytest.fixture
def telemetry() -> Telemetry:
    """The process-wide in-memory telemetry, with finished spans cleared for this test."""
    installed = install_telemetry()
    installed.exporter.clear()
    return installed


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def links_to(span: ReadableSpan, producer: ReadableSpan) -> bool:
    """True if ``span`` has a link to exactly ``producer``'s span context."""
    target = producer.context
    return any(
        link.context.trace_id == target.trace_id and link.context.span_id == target.span_id
        for link in span.links
    )


def only(spans: Sequence[ReadableSpan], what: str) -> ReadableSpan:
    assert len(spans) == 1, f"expected one {what} span, got {[s.name for s in spans]}"
    return spans[0]


# -- producer spans --------------------------------------------------------


async def test_add_replace_and_cancel_make_producer_spans(
    target: Target, telemetry: Telemetry
) -> None:
    """Each producer call is a PRODUCER span naming the docket, task and key."""

    async def remind(customer_id: int) -> None:
        return None

    async with target.docket() as docket:
        await docket.add(remind, when=target.later(600), key="reminder-7")(7)
        await docket.replace(remind, when=target.later(1200), key="reminder-7")(7)
        await docket.cancel("reminder-7")

    add = only(telemetry.named(docket.name, "docket.add"), "docket.add")
    replace = only(telemetry.named(docket.name, "docket.replace"), "docket.replace")
    cancel = only(telemetry.named(docket.name, "docket.cancel"), "docket.cancel")
    for span in (add, replace, cancel):
        assert span.kind is SpanKind.PRODUCER, span.name
        assert attributes(span)["docket.name"] == docket.name
        assert attributes(span)["docket.key"] == "reminder-7"
    assert attributes(add)["docket.task"] == "remind"
    assert attributes(replace)["docket.task"] == "remind"


# -- run spans -------------------------------------------------------------


async def test_each_run_is_one_consumer_span_named_after_the_task(
    target: Target, telemetry: Telemetry
) -> None:
    """Name, kind, the docket attributes and an OK status."""

    async def send_invoice(invoice_id: int) -> str:
        return f"sent {invoice_id}"

    async with target.docket() as docket:
        execution = await docket.add(send_invoice, key="invoice-42")(42)
        async with Worker(docket, name="billing-worker") as worker:
            await target.drive(worker.run_until_finished())
        await target.wait(execution.get_result())

    span = only(telemetry.named(docket.name, "send_invoice"), "run")
    assert span.kind is SpanKind.CONSUMER
    found = attributes(span)
    assert found["docket.name"] == docket.name
    assert found["docket.worker"] == "billing-worker"
    assert found["docket.task"] == "send_invoice"
    assert found["docket.key"] == "invoice-42"
    assert found["docket.when"] == execution.when.isoformat()
    assert found["docket.attempt"] == 1
    assert span.status.status_code is StatusCode.OK


@pytest.mark.parametrize("timing", ["immediate", "future"])
async def test_the_run_span_links_to_the_producer_span(
    target: Target, telemetry: Telemetry, timing: str
) -> None:
    """The trace context travels with the message, also through the schedule (trap 4)."""

    async def ship(order_id: int) -> None:
        return None

    tracer = trace.get_tracer("conformance")
    async with target.docket() as docket:
        with tracer.start_as_current_span("web request") as request:
            when = None if timing == "immediate" else target.later(0.2)
            await docket.add(ship, when=when, key="ship-1")(1)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    add = only(telemetry.named(docket.name, "docket.add"), "docket.add")
    run = only(telemetry.named(docket.name, "ship"), "run")
    assert add.parent is not None and add.parent.span_id == request.get_span_context().span_id
    assert links_to(run, add), f"run span links: {[link.context for link in run.links]}"


async def test_a_replaced_task_links_to_the_replace_span(
    target: Target, telemetry: Telemetry
) -> None:
    """The run belongs to the message ``replace`` wrote, so it links to that producer."""

    async def ship(order_id: int) -> None:
        return None

    async with target.docket() as docket:
        await docket.add(ship, when=target.later(0.2), key="ship-2")(1)
        await docket.replace(ship, when=target.later(0.1), key="ship-2")(2)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    add = only(telemetry.named(docket.name, "docket.add"), "docket.add")
    replace = only(telemetry.named(docket.name, "docket.replace"), "docket.replace")
    run = only(telemetry.named(docket.name, "ship"), "run")
    assert links_to(run, replace)
    assert not links_to(run, add)


async def test_a_failing_task_span_is_marked_failed(target: Target, telemetry: Telemetry) -> None:
    """DONE-WHEN of issue 3: ERROR status and the exception recorded on the span."""

    async def charge_card(amount: int) -> None:
        raise ValueError(f"card declined for {amount}")

    async with target.docket() as docket:
        await docket.add(charge_card)(99)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    span = only(telemetry.named(docket.name, "charge_card"), "run")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description and "card declined for 99" in span.status.description
    exceptions = [event for event in span.events if event.name == "exception"]
    assert len(exceptions) == 1
    recorded = dict(exceptions[0].attributes or {})
    assert str(recorded["exception.type"]).endswith("ValueError")
    assert recorded["exception.message"] == "card declined for 99"


async def test_each_attempt_has_its_own_span_linked_to_the_producer(
    target: Target, telemetry: Telemetry
) -> None:
    """Failed attempts are ERROR, the last one OK; retries keep the producer link."""

    async def flaky(retry: Retry = Retry(attempts=3, delay=timedelta(milliseconds=100))) -> None:
        if retry.attempt < 3:
            raise ConnectionResetError(f"attempt {retry.attempt} dropped")

    async with target.docket() as docket:
        await docket.add(flaky, key="flaky-1")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    add = only(telemetry.named(docket.name, "docket.add"), "docket.add")
    runs = telemetry.named(docket.name, "flaky")
    assert [attributes(s)["docket.attempt"] for s in runs] == [1, 2, 3]
    assert [s.status.status_code for s in runs] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.OK,
    ]
    for span in runs:
        assert attributes(span)["docket.key"] == "flaky-1"
        assert links_to(span, add), f"attempt {attributes(span)['docket.attempt']} lost its link"
    for span in runs[:2]:
        assert [e.name for e in span.events].count("exception") == 1
    assert not [e for e in runs[2].events if e.name == "exception"]


async def test_spans_made_inside_a_task_are_children_of_its_run_span(
    target: Target, telemetry: Telemetry
) -> None:
    """The run span is current while the task runs."""

    async def traced_work() -> None:
        with trace.get_tracer("conformance").start_as_current_span(
            "inner step", attributes={"docket.name": docket.name}
        ):
            pass

    async with target.docket() as docket:
        await docket.add(traced_work)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    run = only(telemetry.named(docket.name, "traced_work"), "run")
    inner = only(telemetry.named(docket.name, "inner step"), "inner")
    assert inner.parent is not None
    assert inner.parent.span_id == run.context.span_id
    assert inner.context.trace_id == run.context.trace_id


# -- metrics ---------------------------------------------------------------


async def test_counters_and_histograms_count_what_happened(
    target: Target, telemetry: Telemetry
) -> None:
    """Every counter, with the docket and task as labels, for one mixed workload."""

    async def good(n: int) -> int:
        return n

    async def bad() -> None:
        raise RuntimeError("always")

    async def once_flaky(retry: Retry = Retry(attempts=2, delay=timedelta(0))) -> None:
        if retry.attempt == 1:
            raise RuntimeError("first time")

    async def never() -> None:
        return None

    async with target.docket() as docket:
        await docket.add(good, key="good-1")(1)
        await docket.add(good, key="good-2")(2)
        await docket.add(good, key="good-2")(2)  # a duplicate: added, not scheduled
        await docket.add(bad, key="bad-1")()
        await docket.add(once_flaky, key="flaky-1")()
        await docket.add(never, when=target.later(3600), key="never-1")()
        await docket.cancel("never-1")
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    name = docket.name
    assert telemetry.total("docket_tasks_added", name) == 6
    assert telemetry.total("docket_tasks_added", name, **{"docket.task": "good"}) == 3
    assert telemetry.total("docket_tasks_scheduled", name) == 5
    assert telemetry.total("docket_tasks_cancelled", name) == 1
    assert telemetry.total("docket_tasks_started", name) == 5
    assert telemetry.total("docket_tasks_started", name, **{"docket.task": "once_flaky"}) == 2
    assert telemetry.total("docket_tasks_completed", name) == 3
    assert telemetry.total("docket_tasks_failed", name) == 2
    assert telemetry.total("docket_tasks_failed", name, **{"docket.task": "bad"}) == 1
    assert telemetry.total("docket_tasks_retried", name) == 1
    assert telemetry.total("docket_tasks_retried", name, **{"docket.task": "once_flaky"}) == 1
    assert telemetry.total("docket_tasks_redelivered", name) == 0
    assert telemetry.total("docket_task_duration", name) == 5
    assert telemetry.total("docket_task_punctuality", name) == 5


async def test_duration_histograms_have_buckets_in_seconds_from_1ms_to_1h(
    target: Target, telemetry: Telemetry
) -> None:
    """A 20 ms run lands between the 10 ms and 25 ms bounds, not in one 0-5 s bucket."""

    async def twenty_ms() -> None:
        await target.clock.sleep(0.02)

    async with target.docket() as docket:
        await docket.add(twenty_ms, key="twenty")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=timedelta(milliseconds=20))

    for metric in ("docket_task_duration", "docket_task_punctuality"):
        points = [
            point
            for _, point in telemetry.points(metric)
            if dict(point.attributes or {}).get("docket.name") == docket.name
        ]
        assert len(points) == 1, metric
        assert tuple(points[0].explicit_bounds) == SECONDS_BUCKETS, metric
    (duration,) = [
        point
        for _, point in telemetry.points("docket_task_duration")
        if dict(point.attributes or {}).get("docket.name") == docket.name
    ]
    bounds = list(duration.explicit_bounds)
    # Bucket i counts values in (bounds[i-1], bounds[i]]; a real clock may run long.
    (landed,) = [i for i, count in enumerate(duration.bucket_counts) if count]
    assert bounds[landed - 1] == 0.01 if target.virtual else bounds[landed - 1] >= 0.01


async def test_metric_labels_never_carry_a_task_key(target: Target, telemetry: Telemetry) -> None:
    """Labels stay bounded: no ``docket.key`` label and no key as any label's value."""
    keys = [f"customer-{n}-welcome" for n in range(3)]

    async def welcome(n: int) -> None:
        if n == 2:
            raise RuntimeError("bounce")

    async with target.docket(heartbeat_interval=timedelta(milliseconds=100)) as docket:
        for n, key in enumerate(keys):
            await docket.add(welcome, key=key)(n)
        await docket.add(welcome, when=target.later(3600), key="customer-9-welcome")(9)
        await docket.cancel("customer-9-welcome")
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

    seen: set[str] = set()
    for metric, point in telemetry.points():
        labels = dict(point.attributes or {})
        if labels.get("docket.name") != docket.name:
            continue
        seen.add(metric)
        assert "docket.key" not in labels, (metric, labels)
        for value in labels.values():
            assert not (isinstance(value, str) and "welcome" in value and "customer" in value), (
                metric,
                labels,
            )
    # The test looked at real series of every kind (the depth gauges, which
    # stop reporting once their worker stops, have tests of their own).
    assert {
        "docket_tasks_added",
        "docket_tasks_started",
        "docket_tasks_failed",
        "docket_tasks_cancelled",
        "docket_task_duration",
    } <= seen, sorted(seen)


async def test_depth_gauges_are_updated_on_heartbeat(target: Target, telemetry: Telemetry) -> None:
    """Queue depth (due, waiting) and schedule depth (future) per docket and worker."""
    started = asyncio.Event()
    hold = asyncio.Event()
    interval = timedelta(milliseconds=100)

    async def blocker() -> None:
        started.set()
        await hold.wait()

    async def follow_up() -> None:
        return None

    async with target.docket(heartbeat_interval=interval) as docket:
        await docket.add(blocker)()
        async with target.running_worker(docket, name="gauge-worker", concurrency=1):
            with releasing(hold):
                await target.wait(started.wait())
                for _ in range(2):
                    await docket.add(follow_up)()  # due, but the only slot is busy
                for _ in range(3):
                    await docket.add(follow_up, when=target.later(3600))()

                def depths() -> tuple[float | None, float | None]:
                    return (
                        telemetry.gauge("docket_queue_depth", docket.name, "gauge-worker"),
                        telemetry.gauge("docket_schedule_depth", docket.name, "gauge-worker"),
                    )

                for _ in range(50):
                    if depths() == (2, 3):
                        break
                    await target.elapse(interval)
                assert depths() == (2, 3)


async def test_reclaimed_work_counts_as_redelivered(target: Target, telemetry: Telemetry) -> None:
    """Work whose worker vanished mid-run is run again and counted as redelivered."""
    first_run = asyncio.Event()
    runs: list[int] = []

    async def stubborn() -> str:
        runs.append(len(runs) + 1)
        if len(runs) == 1:
            first_run.set()
            await asyncio.Event().wait()  # never returns: this run is abandoned
        return "second time lucky"

    async with target.docket() as docket:
        execution = await docket.add(stubborn)()
        doomed = Worker(docket, name="doomed", redelivery_timeout=timedelta(milliseconds=300))
        runner = asyncio.create_task(doomed.run_forever())
        await target.wait(first_run.wait())
        # Two stop requests: the second abandons running work without settling
        # it, as a crash would; its lease is left to expire.
        runner.cancel()
        await target.settle()
        runner.cancel()
        await target.wait(asyncio.gather(runner, return_exceptions=True))
        async with Worker(docket, name="rescuer") as rescuer:
            await target.drive(rescuer.run_until_finished())
        assert await target.wait(execution.get_result()) == "second time lucky"

    assert runs == [1, 2]
    assert telemetry.total("docket_tasks_redelivered", docket.name) == 1
    assert telemetry.total("docket_tasks_started", docket.name) == 2
    assert telemetry.total("docket_tasks_completed", docket.name) == 1


async def test_depth_gauges_stop_reporting_a_worker_that_has_stopped(
    target: Target, telemetry: Telemetry
) -> None:
    """Once a worker has left, its depth series are gone rather than frozen at the last value."""

    async def later() -> None:
        return None

    async with target.docket(heartbeat_interval=timedelta(milliseconds=100)) as docket:
        await docket.add(later, when=target.later(3600))()
        async with target.running_worker(docket, name="short-lived"):
            await target.eventually(
                lambda: telemetry.gauge("docket_schedule_depth", docket.name, "short-lived") == 1,
                what="the first heartbeat's gauges",
            )
        assert telemetry.gauge("docket_schedule_depth", docket.name, "short-lived") is None
        assert telemetry.gauge("docket_queue_depth", docket.name, "short-lived") is None
