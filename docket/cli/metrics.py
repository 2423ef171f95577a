"""``docket worker --metrics-port``: docket's metrics over HTTP for Prometheus to scrape.

docket records its metrics through the OpenTelemetry API.  The server
(prometheus-client's ``start_http_server``) serves ``prometheus_client.REGISTRY``,
and what reaches that registry depends on what is installed:

1. ``opentelemetry-exporter-prometheus``: its ``PrometheusMetricReader``
   feeds every docket metric into the registry.
2. else ``opentelemetry-sdk``: a small bridge here (``OpenTelemetryCollector``)
   reads the SDK's metrics at scrape time and translates them.
3. else (a default install: the API alone records nothing), or when an
   application already set its own MeterProvider: prometheus-client directly.
   docket's instruments also count into ``docket.local_metrics.LOCAL``, which
   ``LocalCollector`` serves.

Every way, counters appear as ``docket_tasks_completed_total``, histograms in
seconds as ``docket_task_duration_seconds_*`` (buckets 1 ms to 1 h), labels as
``docket_name`` and so on; gauges of queue and schedule depth come from what
the worker's heartbeat last saw.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from docket.cli.support import CLIError
from docket.instrumentation import DEPTHS
from docket.local_metrics import LOCAL, LocalMetrics

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader

__all__ = [
    "LocalCollector",
    "MetricsServer",
    "OpenTelemetryCollector",
    "install_metrics",
    "start_metrics_server",
]

logger = logging.getLogger("docket.cli")

DEFAULT_HOST = "0.0.0.0"
"""Where the metrics and health servers listen unless told: every IPv4 interface."""

_lock = threading.Lock()
_installed: str | None = None


def _prometheus_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_:]", "_", name)


def _labels(attributes: Mapping[str, Any] | None) -> dict[str, str]:
    return {
        re.sub(r"[^a-zA-Z0-9_]", "_", str(key)): str(value)
        for key, value in (attributes or {}).items()
    }


def _float_text(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))


class OpenTelemetryCollector(Collector):
    """Translates what an OpenTelemetry SDK reader collects into Prometheus metrics.

    Monotonic sums become counters (``_total``), other sums and gauges become
    gauges, explicit-bucket histograms become histograms.  A unit of ``s``
    adds ``_seconds`` to the name, as the official exporter does.
    """

    def __init__(self, reader: MetricReader) -> None:
        self._reader = reader

    def collect(self) -> Iterator[Metric]:
        from opentelemetry.sdk.metrics.export import Gauge, Histogram, InMemoryMetricReader, Sum

        if not isinstance(self._reader, InMemoryMetricReader):
            return
        data = self._reader.get_metrics_data()
        if data is None:
            return
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    name = _prometheus_name(metric.name)
                    if metric.unit == "s" and not name.endswith("_seconds"):
                        name += "_seconds"
                    description = metric.description or metric.name
                    points: Any = metric.data.data_points
                    if isinstance(metric.data, Sum) and metric.data.is_monotonic:
                        family = Metric(name, description, "counter")
                        for point in points:
                            family.add_sample(
                                f"{name}_total", _labels(point.attributes), point.value
                            )
                    elif isinstance(metric.data, (Sum, Gauge)):
                        family = Metric(name, description, "gauge")
                        for point in points:
                            family.add_sample(name, _labels(point.attributes), point.value)
                    elif isinstance(metric.data, Histogram):
                        family = Metric(name, description, "histogram")
                        for point in points:
                            self._add_histogram(family, name, point)
                    else:
                        continue
                    yield family

    @staticmethod
    def _add_histogram(family: Metric, name: str, point: Any) -> None:
        labels = _labels(point.attributes)
        cumulative = 0
        bounds: list[float] = [*point.explicit_bounds, float("inf")]
        for bound, count in zip(bounds, point.bucket_counts, strict=False):
            cumulative += count
            family.add_sample(f"{name}_bucket", {**labels, "le": _float_text(bound)}, cumulative)
        family.add_sample(f"{name}_count", labels, point.count)
        family.add_sample(f"{name}_sum", labels, point.sum)


class LocalCollector(Collector):
    """docket's counters and histograms as ``LocalMetrics`` kept them, named as the
    OpenTelemetry exporter names them."""

    def __init__(self, store: LocalMetrics = LOCAL) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        for name, series in sorted(self._store.counters().items()):
            family = Metric(name, self._store.described[name].description, "counter")
            for labels, value in series.items():
                family.add_sample(f"{name}_total", _labels(dict(labels)), value)
            yield family
        for name, points_by_labels in sorted(self._store.histograms().items()):
            described = self._store.described[name]
            full = f"{name}_seconds" if described.unit == "s" else name
            family = Metric(full, described.description, "histogram")
            for labels, points in points_by_labels.items():
                shown = _labels(dict(labels))
                cumulative = 0
                for bound, count in zip([*points.bounds, float("inf")], points.counts, strict=True):
                    cumulative += count
                    family.add_sample(
                        f"{full}_bucket", {**shown, "le": _float_text(bound)}, cumulative
                    )
                family.add_sample(f"{full}_count", shown, points.count)
                family.add_sample(f"{full}_sum", shown, points.total)
            yield family


class DepthCollector(Collector):
    """Queue and schedule depth gauges, from what each worker's heartbeat last counted."""

    def collect(self) -> Iterable[Metric]:
        queued = GaugeMetricFamily(
            "docket_queue_depth", "Work due and waiting", labels=["docket_name", "docket_worker"]
        )
        future = GaugeMetricFamily(
            "docket_schedule_depth",
            "Work scheduled for later",
            labels=["docket_name", "docket_worker"],
        )
        for (docket, worker), (queue_depth, schedule_depth) in list(DEPTHS.items()):
            queued.add_metric([docket, worker], queue_depth)
            future.add_metric([docket, worker], schedule_depth)
        return [queued, future]


def _set_provider(reader: MetricReader) -> bool:
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider

    provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(provider)
    return metrics.get_meter_provider() is provider


def install_metrics() -> str:
    """Route docket's metrics into ``prometheus_client.REGISTRY``; say how (once per process)."""
    global _installed
    with _lock:
        if _installed is not None:
            return _installed
        try:
            from opentelemetry.exporter.prometheus import (  # type: ignore[import-not-found,unused-ignore]
                PrometheusMetricReader,
            )
        except ImportError:
            PrometheusMetricReader = None
        try:
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        except ImportError:
            InMemoryMetricReader = None  # type: ignore[assignment,misc]

        if PrometheusMetricReader is not None and _set_provider(PrometheusMetricReader()):
            _installed = "opentelemetry-exporter-prometheus"
        elif InMemoryMetricReader is not None:
            reader = InMemoryMetricReader()
            if _set_provider(reader):
                REGISTRY.register(OpenTelemetryCollector(reader))
                _installed = "opentelemetry-sdk"
        if _installed is None:
            # No SDK here, or the application's own provider has the metrics:
            # docket's instruments count in-process as well.
            LOCAL.enabled = True
            REGISTRY.register(LocalCollector())
            REGISTRY.register(DepthCollector())
            _installed = "prometheus-client"
        return _installed


class MetricsServer:
    """The running HTTP server; ``stop()`` closes it."""

    def __init__(self, port: int, host: str = DEFAULT_HOST) -> None:
        self.source = install_metrics()
        started: Any = start_http_server(port, addr=host, registry=REGISTRY)
        self._server = started[0] if isinstance(started, tuple) else None
        # Port 0 asks for a free port: report the one given.
        self.port = int(self._server.server_address[1]) if self._server is not None else port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def start_metrics_server(port: int, host: str = DEFAULT_HOST) -> MetricsServer:
    """Serve ``/metrics`` on ``host`` (all interfaces by default) and ``port`` until ``stop()``."""
    try:
        server = MetricsServer(port, host)
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise CLIError(f"cannot serve metrics on port {port} at {host}: {reason}") from None
    logger.info("Serving metrics (%s) on port %d at %s", server.source, server.port, host)
    return server
