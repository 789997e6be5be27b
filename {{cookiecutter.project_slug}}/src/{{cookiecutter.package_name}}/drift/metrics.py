"""Prometheus metrics of the drift service and the HTTP endpoint that serves them.

Every series carries `model` and `version` labels: the alerts and dashboards of the repo
select on them, so renaming a metric here means changing them too (their tests will say so).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)

from .base import DriftResult
from .messages import SKIP_REASONS

# One series per metric: no `_created` companions (they double every counter on the wire).
disable_created_metrics()

# (attribute, type, name, help, labels beyond model and version). Counters get `_total`.
METRICS = (
    ("info", Gauge, "drift_model_info", "The watched version (value 1)", ("run_id", "detector")),
    ("p_value", Gauge, "drift_p_value", "p-value of the last window, per feature", ("feature",)),
    ("statistic", Gauge, "drift_statistic", "Test statistic of the last window", ("feature",)),
    ("feature_drift", Gauge, "drift_feature_detected", "1 if the feature drifted", ("feature",)),
    ("detected", Gauge, "drift_detected", "1 if the last window drifted (batch verdict)", ()),
    ("threshold", Gauge, "drift_threshold", "Per-feature p-value threshold (corrected)", ()),
    ("window_size", Gauge, "drift_window_size_rows", "Rows per tested window", ()),
    ("rows", Counter, "drift_rows_processed", "Rows tested for drift", ()),
    ("windows", Counter, "drift_windows_processed", "Windows tested", ()),
    ("drifted_windows", Counter, "drift_windows_drifted", "Windows that drifted", ()),
    ("consumed", Counter, "drift_messages_consumed", "Request-log messages read", ()),
    ("skipped", Counter, "drift_messages_skipped", "Messages skipped, by reason", ("reason",)),
    ("lag", Gauge, "drift_consumer_lag_messages", "Messages on the topic not yet read", ()),
    ("broker_up", Gauge, "drift_broker_up", "1 while the Kafka broker answers", ()),
    ("last_window", Gauge, "drift_last_window_timestamp_seconds", "Last window tested at", ()),
    ("load_seconds", Gauge, "drift_detector_load_seconds", "Time to load the saved detector", ()),
)


class DriftMetrics:
    """The drift service's series; those without extra labels are bound to model/version."""

    def __init__(self, model: str, version: str, run_id: str, detector: str) -> None:
        self.registry = CollectorRegistry()
        self.labels = {"model": model, "version": version}
        for attribute, kind, name, documentation, extra in METRICS:
            metric = kind(name, documentation, [*self.labels, *extra], registry=self.registry)
            setattr(self, attribute, metric.labels(**self.labels) if not extra else metric)
        self.info.labels(**self.labels, run_id=run_id, detector=detector).set(1)
        for reason in SKIP_REASONS:  # every reason is exported from the start, at zero
            self.skipped.labels(**self.labels, reason=reason)

    def skip(self, reason: str) -> None:
        self.skipped.labels(**self.labels, reason=reason).inc()

    def record(self, result: DriftResult, rows: int) -> None:
        for feature, p in result.p_values.items():
            self.p_value.labels(**self.labels, feature=feature).set(p)
            self.statistic.labels(**self.labels, feature=feature).set(result.statistics[feature])
            self.feature_drift.labels(**self.labels, feature=feature).set(p < result.threshold)
        self.threshold.set(result.threshold)
        self.detected.set(result.drift)
        self.rows.inc(rows)
        self.windows.inc()
        if result.drift:
            self.drifted_windows.inc()
        self.last_window.set(time.time())

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """`/metrics` (Prometheus), `/health` (ready: 200 or 503 with the reason), `/live`."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: DriftMetrics,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        live: Callable[[], bool],
    ) -> None:
        self.metrics, self.health, self.live = metrics, health, live
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, outer.metrics.exposition(), CONTENT_TYPE_LATEST)
                elif path == "/health":
                    ready, detail = outer.health()
                    body = json.dumps(detail).encode()
                    self._send(200 if ready else 503, body, "application/json")
                elif path == "/live":  # the consuming loop still turns (liveness probe)
                    alive = outer.live()
                    body = b'{"status": "alive"}' if alive else b'{"status": "stuck"}'
                    self._send(200 if alive else 503, body, "application/json")
                else:
                    self._send(404, b'{"error": "not found"}', "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
                pass

        return Handler
