"""The drift service: request logs from Kafka, through the model version's detector, to metrics.

It serves exactly the version the model server serves (`registry.resolve_served_version`,
same settings) with the detector logged in that version's training run. Offsets are committed
only once the rows before them are tested, so a restart resumes without losing messages; a
broker outage shows on `/health` and consumption resumes when the broker is back.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import registry
from ..data import FEATURES
from ..settings import Settings
from . import detector as detectors
from .messages import SkippedMessage, parse
from .metrics import DriftMetrics, MetricsServer
from .windows import WindowBuffer

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 200
MAX_POLL_RECORDS = 5000
# How often the end offsets are fetched: the consumer lag and the broker check.
LAG_INTERVAL = 1.0
BROKER_TIMEOUT_MS = 3000
RECONNECT_BACKOFF = (0.5, 10.0)
# /live fails (and Kubernetes restarts the pod) if the loop has not turned for this long.
STUCK_AFTER = 120.0


@dataclass(frozen=True)
class WatchedVersion:
    model_name: str
    version: str
    run_id: str


def load_watched(
    settings: Settings, workdir: Path
) -> tuple[WatchedVersion, detectors.FittedDetector, float]:
    """Resolve the served version, then load the detector logged with it (and the load time)."""
    client = registry.connect(settings)
    version = registry.resolve_served_version(client, settings)
    path = detectors.download(version.run_id, str(version.version), workdir)
    started = time.perf_counter()
    fitted = detectors.load(path, list(FEATURES))
    seconds = time.perf_counter() - started
    watched = WatchedVersion(settings.model_name, str(version.version), version.run_id)
    return watched, fitted, seconds


class DriftService:
    def __init__(
        self, settings: Settings, watched: WatchedVersion, fitted: detectors.FittedDetector
    ) -> None:
        self.settings = settings
        self.watched = watched
        self.fitted = fitted
        self.features = list(FEATURES)
        self.buffer = WindowBuffer(fitted.config.window_size)
        self.metrics = DriftMetrics(watched.model_name, watched.version, watched.run_id,
                                    fitted.config.kind)  # fmt: skip
        self.metrics.window_size.set(fitted.config.window_size)
        self.stopping = threading.Event()
        self._consumer: Any = None
        self._committed: dict[int, int] = {}
        self._assigned: list[int] = []
        self._broker_error: str | None = "not connected yet"
        self._heartbeat = time.monotonic()
        self._last_lag_check = 0.0
        self._last_verdict: bool | None = None

    # -- health -----------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        detail = {
            "model": self.watched.model_name,
            "version": self.watched.version,
            "topic": self.settings.request_topic,
            "broker": "up" if self._broker_error is None else f"down: {self._broker_error}",
            "assigned_partitions": list(self._assigned),
            "pending_rows": self.buffer.pending_rows,
        }
        return self._broker_error is None, detail

    def alive(self) -> bool:
        return time.monotonic() - self._heartbeat < STUCK_AFTER

    # -- Kafka --------------------------------------------------------------------------------
    def _connect(self) -> Any:
        from kafka import ConsumerRebalanceListener, KafkaConsumer

        service = self

        class Rebalance(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: Any) -> None:
                service._commit(force=True)
                # Uncommitted messages of every partition will be delivered again.
                service.buffer.clear()
                service._committed.clear()
                service._assigned = []

            def on_partitions_assigned(self, assigned: Any) -> None:
                service._assigned = sorted(tp.partition for tp in assigned)
                topic = service.settings.request_topic
                log.info("assigned partitions %s of %s", service._assigned, topic)

        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers.split(","),
            group_id=self.settings.drift_consumer_group,
            client_id=f"{self.watched.model_name}-drift",
            enable_auto_commit=False,
            auto_offset_reset=self.settings.drift_start_offset,
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
            request_timeout_ms=10000,
            fetch_max_wait_ms=100,
            max_poll_records=MAX_POLL_RECORDS,
            reconnect_backoff_max_ms=2000,
        )
        consumer.subscribe([self.settings.request_topic], listener=Rebalance())
        return consumer

    def _commit(self, force: bool = False) -> None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        offsets = {p: o for p, o in self.buffer.committable().items()
                   if self._committed.get(p) != o}  # fmt: skip
        if not offsets or self._consumer is None:
            return
        topic = self.settings.request_topic
        self._consumer.commit(
            {TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()}
        )
        self._committed.update(offsets)

    def _refresh_lag(self) -> None:
        """Fetch end offsets: the lag metric, and a bounded-time check that the broker answers."""
        from kafka import TopicPartition

        now = time.monotonic()
        if now - self._last_lag_check < LAG_INTERVAL:
            return
        self._last_lag_check = now
        partitions = [TopicPartition(self.settings.request_topic, p) for p in self._assigned]
        if not partitions:
            # Not in the group yet: still check that the broker answers.
            self._consumer.topics()
            return
        ends = self._consumer.end_offsets(partitions, timeout_ms=BROKER_TIMEOUT_MS)
        lag = 0
        for partition in partitions:
            position = self._consumer.position(partition, timeout_ms=BROKER_TIMEOUT_MS)
            lag += max(0, ends[partition] - (position or 0))
        self.metrics.lag.set(lag)

    # -- processing ---------------------------------------------------------------------------
    def handle(self, partition: int, offset: int, value: bytes | None) -> None:
        try:
            request = parse(value, self.watched.model_name, self.watched.version, self.features)
        except SkippedMessage as skipped:
            self.metrics.skip(skipped.reason)
            self.buffer.add(partition, offset)
            log.debug("skipped message %s@%s: %s", partition, offset, skipped)
            return
        self.buffer.add(partition, offset, request.rows)

    def test_full_windows(self) -> None:
        while self.buffer.full():
            window = self.buffer.take_window()
            result = self.fitted.test(window)
            self.metrics.record(result, len(window))
            if result.drift != self._last_verdict:
                log.warning(
                    "drift %s for version %s (features: %s, threshold %.4g)",
                    "DETECTED" if result.drift else "not detected", self.watched.version,
                    ", ".join(result.drifted_features) or "none", result.threshold,
                )  # fmt: skip
                self._last_verdict = result.drift

    def step(self) -> None:
        """One turn: poll, test every full window, commit, refresh the lag."""
        batch = self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_POLL_RECORDS)
        for partition, records in batch.items():
            for record in records:
                self.handle(partition.partition, record.offset, record.value)
            self.metrics.consumed.inc(len(records))
        self.test_full_windows()
        self._commit()
        self._refresh_lag()

    def run(self) -> None:
        backoff = RECONNECT_BACKOFF[0]
        while not self.stopping.is_set():
            self._heartbeat = time.monotonic()
            try:
                if self._consumer is None:
                    self._consumer = self._connect()
                self.step()
            except Exception as error:  # broker gone, commit refused, ...: back off, retry
                self._broker_down(error, backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, RECONNECT_BACKOFF[1])
                continue
            if self._broker_error is not None:
                log.info("Kafka at %s is reachable", self.settings.kafka_bootstrap_servers)
            self._broker_error, backoff = None, RECONNECT_BACKOFF[0]
            self.metrics.broker_up.set(1)
        self._shutdown()

    def _broker_down(self, error: Exception, backoff: float) -> None:
        message = f"{type(error).__name__}: {error}"
        if self._broker_error != message:
            log.warning("Kafka problem (%s); retrying in %.1f s", message, backoff)
        self._broker_error = message
        self.metrics.broker_up.set(0)

    def _shutdown(self) -> None:
        if self._consumer is None:
            return
        try:
            self._commit()
        except Exception as error:  # the messages are read again on restart: nothing lost
            log.warning("final commit failed (%s)", error)
        self._consumer.close(autocommit=False)
        self._consumer = None


def main(settings: Settings) -> int:
    """`{{ cookiecutter.project_slug }} drift`: run until SIGTERM or SIGINT."""
    # Quiet libraries: a progress bar per download, Kafka's metadata refreshes every second.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("kafka", "alibi_detect", "evidently"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="drift-") as workdir:
        watched, fitted, load_seconds = load_watched(settings, Path(workdir))
    service = DriftService(settings, watched, fitted)
    service.metrics.load_seconds.set(load_seconds)
    server = MetricsServer(settings.drift_http_host, settings.drift_http_port, service.metrics,
                           service.health, service.alive)  # fmt: skip
    server.start()
    log.info("watching %s version %s (%s, window %d rows) on topic %s; metrics on %s:%d",
             watched.model_name, watched.version, fitted.config.kind, fitted.config.window_size,
             settings.request_topic, settings.drift_http_host, server.port)  # fmt: skip

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: committing and stopping", signum)
        service.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        service.run()
    finally:
        server.stop()
    return 0
