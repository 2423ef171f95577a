"""``docket.local_metrics`` and ``LocalCollector``: counts kept in-process, served as Prometheus."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from docket.cli.metrics import LocalCollector
from docket.instrumentation import SECONDS_BUCKETS, Counter, Histogram
from docket.local_metrics import LOCAL, Described, HistogramPoints, LocalMetrics


def test_a_value_on_a_bound_counts_in_that_bucket_and_above_all_in_the_last() -> None:
    points = HistogramPoints((0.001, 0.01))
    for value in (0.0005, 0.001, 0.005, 0.01, 5.0):
        points.record(value)
    assert points.counts == [2, 2, 1]
    assert points.count == 5 and abs(points.total - 5.0165) < 1e-9


def test_the_collector_serves_counters_and_cumulative_histograms_in_seconds() -> None:
    store = LocalMetrics()
    store.describe("docket_things", Described("counter", "Things", ""))
    store.describe("docket_wait", Described("histogram", "Waits", "s", SECONDS_BUCKETS))
    store.add("docket_things", 2, {"docket.name": "d", "docket.task": "t"})
    store.add("docket_things", 1, {"docket.task": "t", "docket.name": "d"})
    for seconds in (0.02, 0.02, 0.3, 7200.0):
        store.record("docket_wait", seconds, {"docket.task": "t"})
    registry = CollectorRegistry()
    registry.register(LocalCollector(store))
    text = generate_latest(registry).decode()
    assert 'docket_things_total{docket_name="d",docket_task="t"} 3.0' in text
    assert 'docket_wait_seconds_bucket{docket_task="t",le="0.01"} 0.0' in text
    assert 'docket_wait_seconds_bucket{docket_task="t",le="0.025"} 2.0' in text
    assert 'docket_wait_seconds_bucket{docket_task="t",le="0.5"} 3.0' in text
    assert 'docket_wait_seconds_bucket{docket_task="t",le="3600.0"} 3.0' in text
    assert 'docket_wait_seconds_bucket{docket_task="t",le="+Inf"} 4.0' in text
    assert 'docket_wait_seconds_count{docket_task="t"} 4.0' in text


def test_instruments_count_locally_only_once_enabled() -> None:
    counter = Counter("docket_test_local_counter", "A test counter")
    histogram = Histogram("docket_test_local_histogram", "A test histogram")
    was = LOCAL.enabled
    try:
        LOCAL.enabled = False
        counter.add(1, {"docket.name": "off"})
        histogram.record(0.1, {"docket.name": "off"})
        assert "docket_test_local_counter" not in LOCAL.counters()
        LOCAL.enabled = True
        counter.add(1, {"docket.name": "on"})
        histogram.record(0.1, {"docket.name": "on"})
    finally:
        LOCAL.enabled = was
    assert LOCAL.counters()["docket_test_local_counter"] == {(("docket.name", "on"),): 1.0}
    [points] = LOCAL.histograms()["docket_test_local_histogram"].values()
    assert points.count == 1 and points.bounds == SECONDS_BUCKETS
