"""Unit tests of docket's telemetry and log formatting helpers.

``docket.instrumentation`` makes its tracer, meter and instruments at import
through the OpenTelemetry API; these are proxies that start reporting to the
SDK once a global provider is set, which is what applications (and
``conformance/test_telemetry.py``) rely on.  The formatting helpers behind
the worker's log lines are pinned here too.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from typing import Annotated, Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from conformance.test_telemetry import Telemetry, install_telemetry
from docket import instrumentation
from docket.annotations import Logged, call_repr
from docket.dependencies import format_duration

WHEN = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def fresh() -> Telemetry:
    installed = install_telemetry()
    installed.exporter.clear()
    return installed


def test_the_import_time_tracer_reports_to_the_provider_set_later() -> None:
    telemetry = fresh()
    with instrumentation.tracer.start_as_current_span("probe"):
        pass
    assert [span.name for span in telemetry.exporter.get_finished_spans()] == ["probe"]
    scope = telemetry.exporter.get_finished_spans()[0].instrumentation_scope
    assert scope is not None and scope.name == "docket"


def test_the_import_time_instruments_report_to_the_provider_set_later() -> None:
    telemetry = fresh()
    instrumentation.TASKS_ADDED.add(1, {"docket.name": "unit-proxy", "docket.task": "t"})
    assert telemetry.total("docket_tasks_added", "unit-proxy") == 1


def test_depth_gauges_report_what_the_heartbeat_stored() -> None:
    telemetry = fresh()
    instrumentation.DEPTHS[("unit-depths", "w1")] = (4, 9)
    try:
        assert telemetry.gauge("docket_queue_depth", "unit-depths", "w1") == 4
        assert telemetry.gauge("docket_schedule_depth", "unit-depths", "w1") == 9
    finally:
        del instrumentation.DEPTHS[("unit-depths", "w1")]


def test_depths_are_counted_only_when_something_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from docket.local_metrics import LOCAL

    # A process with neither a meter provider nor the metrics port: no one
    # reads them (a fresh interpreter, since a provider is installed for good).
    nobody = subprocess.run(
        [
            sys.executable,
            "-c",
            "from docket.instrumentation import depths_wanted; print(depths_wanted())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert nobody.stdout.strip() == "False"
    monkeypatch.setattr(LOCAL, "enabled", True)  # the metrics port's own collector
    assert instrumentation.depths_wanted()
    monkeypatch.setattr(LOCAL, "enabled", False)
    fresh()  # a real meter provider: its depth gauges read DEPTHS
    assert instrumentation.depths_wanted()


def test_trace_headers_are_empty_outside_a_span_and_carry_it_inside() -> None:
    fresh()
    assert instrumentation.trace_headers() == {}
    with instrumentation.producer_span("add", "unit", {"docket.key": "k"}) as span:
        headers = instrumentation.trace_headers()
    context = span.get_span_context()
    assert headers["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")


def test_producer_span_is_a_producer_named_after_the_operation() -> None:
    telemetry = fresh()
    with instrumentation.producer_span("cancel", "unit", {"docket.key": "k"}):
        pass
    (span,) = telemetry.exporter.get_finished_spans()
    assert span.name == "docket.cancel"
    assert span.kind is SpanKind.PRODUCER
    assert dict(span.attributes or {}) == {"docket.name": "unit", "docket.key": "k"}


def test_run_span_links_to_the_producer_in_the_headers() -> None:
    telemetry = fresh()
    with instrumentation.producer_span("add", "unit", {}) as producer:
        headers = instrumentation.trace_headers()
    with instrumentation.run_span(
        "job", headers, docket="unit", worker="w", key="k", when=WHEN, attempt=2
    ):
        pass
    run = telemetry.exporter.get_finished_spans()[-1]
    assert run.name == "job" and run.kind is SpanKind.CONSUMER
    assert [link.context.span_id for link in run.links] == [producer.get_span_context().span_id]
    assert run.parent is None  # a new trace, linked rather than parented
    assert run.context.trace_id != producer.get_span_context().trace_id
    attributes = dict(run.attributes or {})
    assert attributes["docket.when"] == WHEN.isoformat()
    assert attributes["docket.attempt"] == 2


def test_run_span_without_usable_headers_has_no_link() -> None:
    telemetry = fresh()
    for headers in ({}, {"traceparent": "not a traceparent"}, {"unrelated": "x"}):
        with instrumentation.run_span(
            "job", headers, docket="unit", worker="w", key="k", when=WHEN, attempt=1
        ):
            pass
    assert [len(span.links) for span in telemetry.exporter.get_finished_spans()] == [0, 0, 0]


def test_run_span_does_not_mark_itself_on_exception() -> None:
    """Status and exception events are the worker's job (mark_failed / mark_ok), not the span's."""
    telemetry = fresh()
    try:
        with instrumentation.run_span(
            "job", {}, docket="unit", worker="w", key="k", when=WHEN, attempt=1
        ) as span:
            instrumentation.mark_failed(span, KeyError("missing"))
            raise KeyError("missing")
    except KeyError:
        pass
    (run,) = telemetry.exporter.get_finished_spans()
    assert run.status.status_code is StatusCode.ERROR
    # Recorded once by mark_failed, not a second time by the context manager.
    assert [event.name for event in run.events] == ["exception"]


def test_mark_ok_sets_an_ok_status() -> None:
    telemetry = fresh()
    with trace.get_tracer("unit").start_as_current_span("ok") as span:
        instrumentation.mark_ok(span)
    assert telemetry.exporter.get_finished_spans()[0].status.status_code is StatusCode.OK


def test_format_duration_is_fixed_width() -> None:
    assert format_duration(0.0123) == "    12ms"
    assert format_duration(0) == "     0ms"
    assert format_duration(99.9) == " 99900ms"
    assert format_duration(150) == "   150s "
    assert format_duration(-0.004) == "    -4ms"


def test_call_repr_matches_pydockets_example() -> None:
    def the_task(
        a: Annotated[str, Logged], b: str, c: Annotated[str, Logged()] = "", d: str = ""
    ) -> None: ...

    assert (
        call_repr("the_task", the_task, ("value-a",), {"b": "x", "c": "value-c", "d": "y"}, "k")
        == "the_task('value-a', b=..., c='value-c', d=...){k}"
    )


def test_call_repr_hides_everything_it_cannot_attribute() -> None:
    """An unknown function (a task read back from storage) shows no argument values."""
    assert call_repr("gone", None, (1, "two"), {"x": 3}, "k") == "gone(..., ..., x=...){k}"


def test_logged_length_only_formats() -> None:
    length = Logged(length_only=True)
    assert length.format([1, 2, 3]) == "[len 3]"
    assert length.format("abcd") == "[len 4]"
    assert length.format({"a": 1}) == "{len 1}"
    assert length.format({1, 2}) == "{len 2}"
    assert length.format(frozenset()) == "{len 0}"
    assert length.format((1, 2)) == "(len 2)"
    assert length.format(42) == "42"
    assert Logged().format("x") == "'x'"


@pytest.mark.parametrize("enabled", [False, True])
async def test_internal_storage_traffic_is_kept_out_of_traces_unless_asked(
    enabled: bool,
) -> None:
    """``enable_internal_instrumentation=False`` (the default) marks the worker's own
    storage calls so OpenTelemetry instrumentations make no spans for them; task
    runs are never marked."""
    from opentelemetry import context
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

    from docket import Docket, Worker

    seen: dict[str, object] = {}

    async def task() -> None:
        seen["task"] = context.get_value(_SUPPRESS_INSTRUMENTATION_KEY)

    async with Docket("internal-ops", "memory://internal-ops") as docket:
        engine = docket.engine
        claim = engine.claim

        async def recording_claim(*args: Any, **kwargs: Any) -> Any:
            seen.setdefault("claim", context.get_value(_SUPPRESS_INSTRUMENTATION_KEY))
            return await claim(*args, **kwargs)

        engine.claim = recording_claim  # type: ignore[method-assign]
        await docket.add(task)()
        async with Worker(docket, enable_internal_instrumentation=enabled) as worker:
            await worker.run_until_finished()
    assert seen["claim"] is (None if enabled else True)
    assert seen["task"] is None
