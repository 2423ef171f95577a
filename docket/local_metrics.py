"""docket's counters and histograms kept in this process, for ``--metrics-port``.

docket records its metrics through the OpenTelemetry API, which records
nothing without an SDK, and the SDK is not a dependency.  So that the metrics
port serves counts and latencies on a default install, the instruments in
``docket.instrumentation`` also count here once ``LOCAL.enabled`` is set
(``docket.cli.metrics`` sets it when no SDK takes the metrics).  Off, the
cost is one attribute check per record.

Values are cumulative since the process started, by metric name and by the
sorted attribute pairs of each record, which docket keeps bounded (docket,
task and worker names; never a key).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["LOCAL", "HistogramPoints", "LocalMetrics"]

Labels = tuple[tuple[str, str], ...]
"""A record's attributes as sorted ``(name, value)`` pairs."""


@dataclass
class HistogramPoints:
    """One label set's histogram: counts per bucket (the last is above every bound)."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def record(self, value: float) -> None:
        """Count ``value`` in the first bucket whose bound it does not exceed."""
        index = len(self.bounds)
        for position, bound in enumerate(self.bounds):
            if value <= bound:
                index = position
                break
        self.counts[index] += 1
        self.total += value
        self.count += 1


@dataclass(frozen=True)
class Described:
    """What a metric is: ``kind`` (``counter`` or ``histogram``), its text and unit."""

    kind: str
    description: str
    unit: str
    bounds: Sequence[float] = ()


class LocalMetrics:
    """Cumulative counters and histograms by metric name and label set; thread-safe."""

    def __init__(self) -> None:
        self.enabled = False
        self.described: dict[str, Described] = {}
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, HistogramPoints]] = {}
        self._lock = threading.Lock()

    def describe(self, name: str, described: Described) -> None:
        """Say what metric ``name`` is, before anything is recorded for it."""
        self.described[name] = described

    def add(self, name: str, amount: float, attributes: Mapping[str, object] | None) -> None:
        """Add ``amount`` to counter ``name`` for ``attributes``."""
        labels = _labels(attributes)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[labels] = series.get(labels, 0.0) + amount

    def record(self, name: str, value: float, attributes: Mapping[str, object] | None) -> None:
        """Count ``value`` in histogram ``name`` for ``attributes``."""
        labels = _labels(attributes)
        with self._lock:
            series = self._histograms.setdefault(name, {})
            points = series.get(labels)
            if points is None:
                points = series[labels] = HistogramPoints(self.described[name].bounds)
            points.record(value)

    def counters(self) -> dict[str, dict[Labels, float]]:
        """A copy of every counter's values."""
        with self._lock:
            return {name: dict(series) for name, series in self._counters.items()}

    def histograms(self) -> dict[str, dict[Labels, HistogramPoints]]:
        """A copy of every histogram's points."""
        with self._lock:
            return {
                name: {
                    labels: HistogramPoints(p.bounds, list(p.counts), p.total, p.count)
                    for labels, p in series.items()
                }
                for name, series in self._histograms.items()
            }


def _labels(attributes: Mapping[str, object] | None) -> Labels:
    return tuple(sorted((str(k), str(v)) for k, v in (attributes or {}).items()))


LOCAL = LocalMetrics()
"""The process's one store, which ``docket.instrumentation``'s instruments feed."""
