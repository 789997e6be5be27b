"""Measure the drift service: throughput, start-up (load vs refit) and detection delay.

Runs the drift service's own loop (DriftService.step: Kafka consumer, message checks,
windows, detector, metrics) against a real tansu broker, with the default dataset, the repo's
drift library and the kind of drift.toml, and prints:
- rows/s sustained from Kafka through the detector to the metrics, for a backlog of
  single-row messages (what single-row predictions log) and of 10-row messages
  (target: >= 5,000 rows/s);
- start-up: loading the saved detector vs refitting it from the training data (ratio);
- detection delay: from the first shifted row produced to drift_detected == 1 on /metrics,
  for the default window, with traffic at a fixed rate.
Usage: make bench-drift (everything on 127.0.0.1; stops by itself).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np

from {{ cookiecutter.package_name }}.devstack.services import KafkaBroker

BACKLOG_ROWS = int(os.environ.get("BENCH_DRIFT_ROWS", "50000"))
STREAM_RATE = float(os.environ.get("BENCH_DRIFT_RATE", "1000"))  # rows/s for the delay test


def _reference() -> np.ndarray:
    from {{ cookiecutter.package_name }}.data import FEATURES, load_dataset

    return load_dataset()[list(FEATURES)].to_numpy()


def _messages(rows: np.ndarray, per_message: int, version: str) -> list[bytes]:
    from {{ cookiecutter.package_name }}.data import FEATURES
    from {{ cookiecutter.package_name }}.settings import MODEL_NAME

    return [
        json.dumps({
            "request_id": uuid.uuid4().hex, "timestamp": "2026-01-01T00:00:00+00:00",
            "model_name": MODEL_NAME, "model_version": version, "predictor": "default",
            "feature_names": list(FEATURES), "rows": rows[i : i + per_message].tolist(),
            "output_names": ["a", "b", "c"],
            "predictions": [[0.2, 0.3, 0.5]] * len(rows[i : i + per_message]),
        }).encode()
        for i in range(0, len(rows), per_message)
    ]  # fmt: skip


def _traffic(reference: np.ndarray, count: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = reference[rng.integers(len(reference), size=count)] + rng.normal(0, 0.05, (count, 4))
    rows[:, 2] += shift
    return rows.round(3)


def _produce(broker: KafkaBroker, topic: str, payloads: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=20,
                             batch_size=256 * 1024)  # fmt: skip
    for payload in payloads:
        producer.send(topic, payload)
    producer.flush(timeout=60)
    producer.close()


def _service(broker: KafkaBroker, topic: str, fitted):
    from {{ cookiecutter.package_name }}.drift.service import DriftService, WatchedVersion
    from {{ cookiecutter.package_name }}.settings import MODEL_NAME, load_settings

    settings = load_settings({
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers, "REQUEST_TOPIC": topic,
        "DRIFT_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
        "DRIFT_START_OFFSET": "earliest", "MLOPS_STATE_DIR": tempfile.gettempdir(),
    })  # fmt: skip
    service = DriftService(settings, WatchedVersion(MODEL_NAME, "1", "benchmark"), fitted)
    service._consumer = service._connect()
    return service


def _throughput(broker: KafkaBroker, fitted, reference: np.ndarray, per_message: int):
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic)
    _produce(broker, topic, _messages(_traffic(reference, BACKLOG_ROWS, 1), per_message, "1"))
    service = _service(broker, topic, fitted)
    expected = BACKLOG_ROWS - BACKLOG_ROWS % fitted.config.window_size
    try:
        # The clock starts at the poll that returns the first messages (after the group
        # join, which is a one-off cost of a new consumer, not throughput).
        started = time.perf_counter()
        while service.metrics.consumed._value.get() == 0:
            started = time.perf_counter()
            service.step()
        while service.metrics.rows._value.get() < expected:
            service.step()
        elapsed = time.perf_counter() - started
    finally:
        service._shutdown()
    return expected / elapsed


def _startup(fitted, folder: Path) -> tuple[float, float]:
    """Seconds to load the saved detector, and to refit it from the training data."""
    from {{ cookiecutter.package_name }}.data import FEATURES, load_dataset, validate_dataset
    from {{ cookiecutter.package_name }}.drift import detector

    detector.save(fitted, folder, list(FEATURES))
    loads, refits = [], []
    for _ in range(20):
        started = time.perf_counter()
        detector.load(folder, list(FEATURES))
        loads.append(time.perf_counter() - started)
        started = time.perf_counter()
        rows = validate_dataset(load_dataset())[list(FEATURES)].to_numpy()
        detector.fit(rows, fitted.config, seed=42)
        refits.append(time.perf_counter() - started)
    return float(np.median(loads)), float(np.median(refits))


def _detection_delay(broker: KafkaBroker, fitted, reference: np.ndarray) -> tuple[float, int]:
    from {{ cookiecutter.package_name }}.drift.metrics import MetricsServer

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic)
    window = fitted.config.window_size
    service = _service(broker, topic, fitted)
    server = MetricsServer("127.0.0.1", 0, service.metrics, service.health, service.alive)
    server.start()
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    try:
        while not service._assigned:
            time.sleep(0.05)
        # Whole windows of normal traffic first, so the shifted rows start a window.
        _produce(broker, topic, _messages(_traffic(reference, 3 * window, 2), 1, "1"))
        while service.metrics.windows._value.get() < 3:
            time.sleep(0.05)
        shifted = _messages(_traffic(reference, 10 * window, 3, shift=1.5), 1, "1")
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=0)
        detected = threading.Event()
        first_sent = time.perf_counter()

        def stream() -> None:
            for i, payload in enumerate(shifted):
                if detected.is_set():
                    return
                producer.send(topic, payload)
                time.sleep(max(0.0, first_sent + (i + 1) / STREAM_RATE - time.perf_counter()))

        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        url = f"http://127.0.0.1:{server.port}/metrics"
        while True:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
            if any(line.startswith("drift_detected{") and line.endswith(" 1.0")
                   for line in text.splitlines()):  # fmt: skip
                delay = time.perf_counter() - first_sent
                break
            if time.perf_counter() - first_sent > 60:
                raise SystemExit("no drift detected within 60 s")
            time.sleep(0.01)
        detected.set()
        streamer.join()
        producer.close()
    finally:
        service.stopping.set()
        runner.join(10)
        server.stop()
    return delay, window


{% if cookiecutter.drift_library == "evidently" -%}
def _evidently_report_cost(fitted, reference: np.ndarray, windows: int = 10) -> tuple[float, float]:
    """Median seconds per window: the detector's tests, and the same tests in a Report of
    Evidently's current API (interleaved, the same windows)."""
    from {{ cookiecutter.package_name }}.data import FEATURES
    from {{ cookiecutter.package_name }}.drift.libraries.evidently import current_api
    from {{ cookiecutter.package_name }}.drift.libraries.evidently.detector import feature_tests

    config = fitted.config
    categorical = list(config.categorical_features) if config.kind == "tabular" else []
    ours, report = [], []
    for seed in range(windows):
        window = _traffic(reference, config.window_size, seed).astype(np.float32)
        started = time.perf_counter()
        fitted.test(window)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        current_api.p_values(fitted.detector.reference, window, list(FEATURES),
                             feature_tests(config), categorical)  # fmt: skip
        report.append(time.perf_counter() - started)
    return float(np.median(ours)), float(np.median(report))


{% endif -%}
def main() -> int:
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    # In-distribution traffic drifts now and then at p=0.05 (false alarms): not news here.
    logging.getLogger("{{ cookiecutter.package_name }}").setLevel(logging.ERROR)
    from {{ cookiecutter.package_name }}.drift import detector
    from {{ cookiecutter.package_name }}.drift.config import load_config
    from {{ cookiecutter.package_name }}.settings import DRIFT_LIBRARY

    config = load_config()
    reference = _reference()
    fitted = detector.fit(reference, config, seed=42)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        load_s, refit_s = _startup(fitted, folder)
        broker = KafkaBroker(folder / "kafka.log")
        broker.start()
        try:
            single = _throughput(broker, fitted, reference, per_message=1)
            batched = _throughput(broker, fitted, reference, per_message=10)
            delay, window = _detection_delay(broker, fitted, reference)
        finally:
            broker.stop()
{%- if cookiecutter.drift_library == "evidently" %}
    ours_s, report_s = _evidently_report_cost(fitted, reference)
{%- endif %}

    print(f"drift library {DRIFT_LIBRARY}, kind {config.kind}, window {config.window_size} rows, "
          f"p-value {config.p_value}, {BACKLOG_ROWS} rows per throughput run")  # fmt: skip
    print(f"{'throughput (Kafka -> detector -> metrics)':<46}{'rows/s':>10}")
    print(f"{'  1-row messages':<46}{single:>10.0f}")
    print(f"{'  10-row messages':<46}{batched:>10.0f}")
    print("  target: >= 5,000 rows/s")
    print(f"start-up: load saved detector {load_s * 1e3:.2f} ms, refit from training data "
          f"{refit_s * 1e3:.2f} ms: loading is {refit_s / load_s:.1f}x faster")  # fmt: skip
    print(f"detection delay: {delay * 1e3:.0f} ms from the first shifted row to drift_detected=1 "
          f"on /metrics (window {window} rows, traffic {STREAM_RATE:.0f} rows/s; "
          f"filling the window alone takes {window / STREAM_RATE * 1e3:.0f} ms)")  # fmt: skip
{%- if cookiecutter.drift_library == "evidently" %}
    print(f"per window: the detector's tests {ours_s * 1e3:.1f} ms, the same tests in a Report "
          f"of Evidently's current API (ValueDrift) {report_s * 1e3:.1f} ms: "
          f"{report_s / ours_s:.0f}x (why the service calls the tests directly)")  # fmt: skip
{%- endif %}
    return 0


if __name__ == "__main__":
    sys.exit(main())
