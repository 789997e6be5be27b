"""Prometheus metrics of the quality monitor, served on the drift service's /metrics.

They show the last saved state only (state.py): a counter never goes back, even when the
process dies between two saves and reads those messages again. Every series carries `model`
and `version`; the alerts (k8s/base/prometheusrule.yaml) and the dashboard select on them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .join import LABEL_OUTCOMES, PREDICTION_OUTCOMES, Joiner
from .messages import SKIP_REASONS

TOPICS = ("requests", "labels")


@dataclass(frozen=True)
class Figures:
    """What one saved state exports."""

    quality: dict[str, dict[str, float]] = field(default_factory=dict)
    windows: dict[str, int] = field(default_factory=dict)
    prediction_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    skipped: dict[tuple[str, str], int] = field(default_factory=dict)
    pending: int = 0
    waiting: int = 0
    saved_at: float = 0.0

    @classmethod
    def of(cls, joiner: Joiner, saved_at: float) -> Figures:
        return cls(
            quality={p: dict(q) for p, q in joiner.quality.items()},
            windows=dict(joiner.window_counts),
            prediction_rows=dict(joiner.prediction_rows),
            labels=dict(joiner.label_counts),
            skipped=dict(joiner.skipped),
            pending=len(joiner.pending),
            waiting=len(joiner.waiting),
            saved_at=saved_at,
        )


class QualityMetrics:
    """A prometheus_client collector of the published Figures."""

    def __init__(
        self,
        model: str,
        version: str,
        window_size: int,
        reference: Mapping[str, float],
        threshold: Mapping[str, float],
    ) -> None:
        self.labels = {"model": model, "version": version}
        self.window_size = window_size
        self.reference, self.threshold = dict(reference), dict(threshold)
        self._figures = Figures()
        self._lock = threading.Lock()

    def publish(self, figures: Figures) -> None:
        with self._lock:
            self._figures = figures

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            figures = self._figures
        names, values = list(self.labels), list(self.labels.values())

        def family(kind: type, name: str, documentation: str, *extra: str) -> Metric:
            return kind(name, documentation, labels=[*names, *extra])

        quality = family(
            GaugeMetricFamily,
            "model_quality",
            "The last window's quality against ground truth",
            "predictor",
            "metric",
        )
        for predictor, metrics in sorted(figures.quality.items()):
            for metric, value in metrics.items():
                quality.add_metric([*values, predictor, metric], value)
        reference = family(
            GaugeMetricFamily,
            "model_quality_reference",
            "The version's held-out figure (its training run)",
            "metric",
        )
        threshold = family(
            GaugeMetricFamily,
            "model_quality_threshold",
            "Worse than this is degraded (the reference and the tolerance)",
            "metric",
        )
        for metric in self.reference:
            reference.add_metric([*values, metric], self.reference[metric])
            threshold.add_metric([*values, metric], self.threshold[metric])
        windows = family(
            CounterMetricFamily,
            "model_quality_windows",
            "Windows of labelled rows measured",
            "predictor",
        )
        for predictor, count in sorted(figures.windows.items()):
            windows.add_metric([*values, predictor], count)
        rows = family(
            CounterMetricFamily,
            "model_quality_predictions",
            "Predicted rows settled: labelled in time or not",
            "predictor",
            "outcome",
        )
        predictors = sorted({p for p, _ in figures.prediction_rows})
        for predictor in predictors:
            for outcome in PREDICTION_OUTCOMES:
                rows.add_metric(
                    [*values, predictor, outcome],
                    figures.prediction_rows.get((predictor, outcome), 0),
                )
        labels = family(
            CounterMetricFamily,
            "model_quality_labels",
            "Label messages read, by what became of them",
            "outcome",
        )
        for outcome in LABEL_OUTCOMES:
            labels.add_metric([*values, outcome], figures.labels.get(outcome, 0))
        skipped = family(
            CounterMetricFamily,
            "model_quality_messages_skipped",
            "Messages of either topic that could not be used",
            "topic",
            "reason",
        )
        for topic in TOPICS:
            for reason in SKIP_REASONS:
                skipped.add_metric(
                    [*values, topic, reason], figures.skipped.get((topic, reason), 0)
                )
        gauges = (
            (
                "model_quality_window_size_rows",
                "Labelled rows per measured window",
                self.window_size,
            ),
            (
                "model_quality_pending_predictions",
                "Requests waiting for their labels",
                figures.pending,
            ),
            (
                "model_quality_waiting_labels",
                "Labels waiting for their prediction",
                figures.waiting,
            ),
            (
                "model_quality_saved_timestamp_seconds",
                "When the exported state was saved",
                figures.saved_at,
            ),
        )
        yield from (quality, reference, threshold, windows, rows, labels, skipped)
        for name, documentation, value in gauges:
            gauge = family(GaugeMetricFamily, name, documentation)
            gauge.add_metric(values, value)
            yield gauge
