"""The drift service: request logs from Kafka, through the model version's detector, to metrics.

The same process runs the quality monitor (quality/service.py), which joins the request log
to the labels topic: one image, one Deployment, one /metrics.

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
from . import libraries
from .consumer import (
    BROKER_TIMEOUT_MS,
    MAX_POLL_RECORDS,
    POLL_TIMEOUT_MS,
    ConsumerLoop,
    consumer_config,
    starting_offsets,
)
from .messages import SkippedMessage, parse
from .metrics import DriftMetrics, MetricsServer
from .windows import WindowBuffer

log = logging.getLogger(__name__)

# How often the end offsets are fetched: the consumer lag and the broker check.
LAG_INTERVAL = 1.0


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
    if settings.pinned_model_digest is not None:
        verify_detector(settings, str(version.version), path)
    started = time.perf_counter()
    fitted = detectors.load(path, list(FEATURES))
    seconds = time.perf_counter() - started
    watched = WatchedVersion(settings.model_name, str(version.version), version.run_id)
    return watched, fitted, seconds


def verify_detector(settings: Settings, version: str, detector_dir: Path) -> None:
    """The detector is the one the pinned version's training logged: MODEL_DIGEST verifies the
    model's artifacts, whose MLmodel records the detector's digest. DriftDetectorError naming
    the check otherwise (nothing is loaded)."""
    import mlflow

    model_dir = registry.download_version(settings, version)
    try:
        registry.verify_digest(model_dir, version, settings.pinned_model_digest)
    except registry.RegistryError as error:
        raise detectors.DriftDetectorError(str(error)) from None
    metadata = mlflow.models.Model.load(str(model_dir)).metadata or {}
    expected = metadata.get(registry.DETECTOR_DIGEST_KEY)
    if not expected:
        raise detectors.DriftDetectorError(
            f"version {version}: its MLmodel records no drift detector digest (trained before "
            "detectors were pinned): retrain it, or unpin MODEL_DIGEST to load it unverified"
        )
    found = registry.artifact_digest(detector_dir)
    if found != expected:
        raise detectors.DriftDetectorError(
            f"version {version}: its drift detector hashes to {found}, but the version's "
            f"MLmodel (pinned by MODEL_DIGEST) records {expected}: the detector changed after "
            "training logged it; refusing to load"
        )


class DriftService(ConsumerLoop):
    label = "drift"

    def __init__(
        self, settings: Settings, watched: WatchedVersion, fitted: detectors.FittedDetector
    ) -> None:
        super().__init__()
        self.settings = settings
        self.watched = watched
        self.fitted = fitted
        self.features = list(FEATURES)
        self.buffer = WindowBuffer(fitted.config.window_size)
        self.metrics = DriftMetrics(watched.model_name, watched.version, watched.run_id,
                                    fitted.config.kind)  # fmt: skip
        self.metrics.window_size.set(fitted.config.window_size)
        self._committed: dict[int, int] = {}
        self._assigned: list[int] = []
        self._last_lag_check = 0.0
        self._client_error: Any = None
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

    # -- Kafka (librdkafka through confluent-kafka, as the request log's producer) ---------
    def _connect(self) -> Any:
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                **consumer_config(self.settings, self.settings.drift_consumer_group, "drift"),
                # Connection trouble comes through error_cb (and shows on /health), not as
                # a log line at every reconnect.
                "error_cb": self._on_client_error,
            }
        )
        # The callbacks run inside consume(), on this thread. They only forget what was read
        # and not committed: every step commits what it has tested, and the rest is
        # delivered again to whoever owns the partition next.
        consumer.subscribe([self.settings.request_topic], on_assign=self._on_assign,
                           on_revoke=self._on_revoke, on_lost=self._on_revoke)  # fmt: skip
        return consumer

    def _on_assign(self, consumer: Any, partitions: list) -> None:
        # Where reading starts is settled here, before /health calls the partitions ours. Left
        # to librdkafka, "latest" is looked up after the assignment, and a message produced in
        # between is skipped by a service that has already reported itself consuming.
        consumer.assign(self._starting_offsets(consumer, partitions))
        self._assigned = sorted(tp.partition for tp in partitions)
        log.info("assigned partitions %s of %s", self._assigned, self.settings.request_topic)

    def _starting_offsets(self, consumer: Any, partitions: list) -> list:
        return starting_offsets(consumer, partitions, self.settings.drift_start_offset)

    def _on_revoke(self, _consumer: Any, _partitions: list) -> None:
        self.buffer.clear()
        self._committed.clear()
        self._assigned = []

    def _on_client_error(self, error: Any) -> None:
        """librdkafka reports connection trouble here (inside consume()), it raises nothing."""
        from confluent_kafka import KafkaError

        if error.fatal() or error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._client_error = error

    def _raise_client_error(self) -> None:
        from confluent_kafka import KafkaException

        error, self._client_error = self._client_error, None
        if error is not None:
            raise KafkaException(error)

    def _commit(self) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        offsets = {p: o for p, o in self.buffer.committable().items()
                   if self._committed.get(p) != o}  # fmt: skip
        if not offsets or self._consumer is None:
            return
        topic = self.settings.request_topic
        answers = self._consumer.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
        )
        for answer in answers or []:
            if answer.error is not None:
                raise KafkaException(answer.error)
        self._committed.update(offsets)

    def _refresh_lag(self) -> None:
        """Fetch end offsets: the lag metric, and a bounded-time check that the broker answers."""
        from confluent_kafka import TopicPartition

        now = time.monotonic()
        if now - self._last_lag_check < LAG_INTERVAL:
            return
        self._last_lag_check = now
        topic, timeout = self.settings.request_topic, BROKER_TIMEOUT_MS / 1000
        if not self._assigned:
            # Not in the group yet: still check that the broker answers.
            self._consumer.list_topics(topic, timeout=timeout)
            return
        lag = 0
        for position in self._consumer.position([TopicPartition(topic, p) for p in self._assigned]):
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, position.partition), timeout=timeout, cached=False
            )
            # Before the first fetch the position is not known yet: the last commit tells.
            known = position.offset >= 0
            offset = position.offset if known else self._committed.get(position.partition, low)
            lag += max(0, high - offset)
        self.metrics.lag.set(lag)

    def _drop_consumer(self) -> None:
        super()._drop_consumer()
        self._on_revoke(None, [])  # what it read and did not commit is read again

    # -- processing ---------------------------------------------------------------------------
    def handle(self, partition: int, offset: int, value: bytes | None) -> None:
        try:
            request = parse(value, self.watched.model_name, self.watched.version, self.features,
                            len(self.fitted.output_columns))  # fmt: skip
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
        """One turn: consume, test every full window, commit, refresh the lag."""
        from confluent_kafka import KafkaException

        messages = self._consumer.consume(MAX_POLL_RECORDS, timeout=POLL_TIMEOUT_MS / 1000)
        # Every message of the batch is handled before an error is raised: the consumer's
        # position is already past them, so one left out would be committed over unread.
        errors = [m.error() for m in messages if m.error() is not None]  # e.g. no topic yet
        for message in messages:
            if message.error() is None:
                self.handle(message.partition(), message.offset(), message.value())
        self.metrics.consumed.inc(len(messages) - len(errors))
        if errors:
            raise KafkaException(errors[0])
        self._raise_client_error()
        self.test_full_windows()
        self._commit()
        self._refresh_lag()

    def _broker_down(self, error: Exception, backoff: float) -> None:
        super()._broker_down(error, backoff)
        self.metrics.broker_up.set(0)

    def _broker_up(self) -> None:
        if self._broker_error is not None:
            log.info("Kafka at %s is reachable", self.settings.kafka.bootstrap_servers)
        super()._broker_up()
        self.metrics.broker_up.set(1)

    def _shutdown(self) -> None:
        if self._consumer is None:
            return
        try:
            self._commit()
        except Exception as error:  # the messages are read again on restart: nothing lost
            log.warning("final commit failed (%s)", error)
        super()._shutdown()


def main(settings: Settings) -> int:
    """`{{ cookiecutter.project_slug }} drift`: run until SIGTERM or SIGINT."""
    # Quiet libraries: a progress bar per download, the drift library's info lines.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger(libraries.load().logger).setLevel(logging.WARNING)
    from ..quality import service as quality

    with tempfile.TemporaryDirectory(prefix="drift-") as workdir:
        watched, fitted, load_seconds = load_watched(settings, Path(workdir))
    service = DriftService(settings, watched, fitted)
    service.metrics.load_seconds.set(load_seconds)
    # Quality against ground truth: the same version, its own consumer, on its own thread.
    monitor = quality.start(settings, watched)
    service.metrics.registry.register(monitor.metrics)

    def health() -> tuple[bool, dict[str, Any]]:
        ready, detail = service.health()
        return ready, {**detail, "quality": monitor.health()}

    server = MetricsServer(settings.drift_http_host, settings.drift_http_port, service.metrics,
                           health, lambda: service.alive() and monitor.alive())  # fmt: skip
    server.start()
    log.info("watching %s version %s (%s, window %d rows) on topic %s, its quality with the "
             "labels of %s; metrics on %s:%d", watched.model_name, watched.version,
             fitted.config.kind, fitted.config.window_size, settings.request_topic,
             settings.labels_topic, settings.drift_http_host, server.port)  # fmt: skip

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: committing and stopping", signum)
        service.stopping.set()
        monitor.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watching = threading.Thread(target=monitor.run, name="quality")
    watching.start()
    try:
        service.run()
    finally:
        monitor.stopping.set()
        watching.join()
        server.stop()
    return 0
