"""The quality monitor: reads the request log and the labels topic, joins them (join.py) and
exports the model's quality, beside the drift service in the same process.

It watches the version the drift service watches, and takes its quality reference from that
version's training run (its held-out metrics). The state is saved every SAVE_INTERVAL seconds
with the positions it was made from (state.py) and read back at start: a restart resumes
from there, so a message is applied exactly once to the exported figures. One replica reads
the topics (the state is one file): the Deployment is `Recreate` with one replica.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .. import registry
from ..drift.consumer import (
    MAX_POLL_RECORDS,
    POLL_TIMEOUT_MS,
    ConsumerLoop,
    consumer_config,
    starting_offsets,
)
from ..drift.messages import SkippedMessage
from ..drift.service import WatchedVersion
from ..settings import Settings
from ..tasks import task as model_task
from . import state
from .join import Joiner
from .messages import parse_label, parse_prediction
from .metrics import Figures, QualityMetrics

log = logging.getLogger(__name__)

# How often the state is saved, the figures published and the offsets committed: a crash
# re-reads at most this much, and the figures are at most this old. A save writes the whole
# state (about 150 bytes of JSON per waiting prediction): a large one is saved less often, so
# that saving takes at most SAVE_SHARE of the time.
SAVE_INTERVAL = 5.0
SAVE_SHARE = 0.1


def reference_figures(settings: Settings, run_id: str) -> dict[str, float]:
    """The version's held-out QUALITY_METRICS, as its training run logged them."""
    client = registry.connect(settings)
    logged = client.get_run(run_id).data.metrics
    missing = [m for m in model_task.QUALITY_METRICS if m not in logged]
    if missing:
        log.warning("run %s logged no %s: no quality threshold for it", run_id, ", ".join(missing))
    return {m: float(logged[m]) for m in model_task.QUALITY_METRICS if m in logged}


def thresholds(reference: Mapping[str, float], tolerance: float) -> dict[str, float]:
    """Worse than the reference by more than `tolerance` (a share of it) is degraded."""
    return {
        metric: value * (1 - tolerance if model_task.QUALITY_METRICS[metric] else 1 + tolerance)
        for metric, value in reference.items()
    }


class QualityMonitor(ConsumerLoop):
    label = "quality"

    def __init__(
        self,
        settings: Settings,
        watched: WatchedVersion,
        output_names: list[str],
        reference: Mapping[str, float],
    ) -> None:
        super().__init__()
        self.settings = settings
        self.watched = watched
        self.output_names = output_names
        self.topics = {settings.request_topic: "requests", settings.labels_topic: "labels"}
        self.joiner = Joiner(
            output_names,
            settings.quality_horizon_seconds,
            settings.quality_grace_seconds,
            settings.quality_window_rows,
            settings.quality_max_pending,
        )
        self.metrics = QualityMetrics(
            watched.model_name,
            watched.version,
            settings.quality_window_rows,
            reference,
            thresholds(reference, settings.quality_tolerance),
        )
        # "partition@topic" -> the next offset to read; saved with the joiner's state
        self.positions: dict[str, int] = {}
        self._last_save = time.monotonic()
        self._saved_positions: dict[str, int] = {}
        self._assigned: list[str] = []
        self._save_error: str | None = None
        self._interval = SAVE_INTERVAL
        self._resume()

    # -- state ------------------------------------------------------------------------------
    def _resume(self) -> None:
        saved = state.load(self.settings.quality_state_dir, self.watched.model_name)
        if saved is None:
            return
        self.positions = dict(saved["positions"])
        # The same version of the same registry: its run says so (a state saved without one
        # is taken at its version's word).
        run_id = saved.get("run_id", self.watched.run_id)
        if saved["version"] == self.watched.version and run_id == self.watched.run_id:
            try:
                self.joiner.restore(saved["joiner"])
            except (KeyError, ValueError, TypeError) as error:
                raise state.StateError(
                    f"{self.settings.quality_state_dir / state.STATE_FILE}: its joiner state "
                    f"cannot be read ({error}); move it away to start measuring afresh"
                ) from None
            self.metrics.publish(Figures.of(self.joiner, time.time()))
        else:  # a new version is measured from nothing; the old one's messages are not re-read
            log.info(
                "saved quality state is of version %s (run %s): measuring version %s (run %s) "
                "afresh",
                saved["version"],
                run_id,
                self.watched.version,
                self.watched.run_id,
            )
        self._saved_positions = dict(self.positions)

    def save(self) -> None:
        """Save the state with its positions, then publish its figures and commit the offsets
        (the group's offsets show the lag; the saved positions are where a restart resumes)."""
        saved_at, started = time.time(), time.monotonic()
        try:
            state.save(
                self.settings.quality_state_dir,
                self.watched.model_name,
                self.watched.version,
                self.joiner.snapshot(),
                self.positions,
                run_id=self.watched.run_id,
            )
        except OSError as error:  # a full or read-only volume: nothing is published
            self._last_save = time.monotonic()  # tried again at the next interval
            if self._save_error is None:
                log.error(
                    "saving the quality state to %s failed (%s): the exported figures stay "
                    "those of the last save",
                    self.settings.quality_state_dir,
                    error,
                )
            self._save_error = str(error)
            return
        self._save_error = None
        self._last_save = time.monotonic()
        self._interval = max(SAVE_INTERVAL, (self._last_save - started) / SAVE_SHARE)
        self.metrics.publish(Figures.of(self.joiner, saved_at))
        changed = {k: v for k, v in self.positions.items() if self._saved_positions.get(k) != v}
        self._saved_positions = dict(self.positions)
        if changed and self._consumer is not None:
            from confluent_kafka import TopicPartition

            offsets = []
            for key, offset in changed.items():
                partition, _, topic = key.partition("@")
                offsets.append(TopicPartition(topic, int(partition), offset))
            self._consumer.commit(offsets=offsets, asynchronous=True)

    # -- health -----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {
            "topics": list(self.topics),
            "assigned_partitions": list(self._assigned),
            "broker": "up" if self._broker_error is None else f"down: {self._broker_error}",
            "pending_predictions": len(self.joiner.pending),
            "waiting_labels": len(self.joiner.waiting),
            "evicted_predictions": self.joiner.evicted,
            "state": "saved" if self._save_error is None else f"not saved: {self._save_error}",
            "saved": datetime.fromtimestamp(
                time.time() - (time.monotonic() - self._last_save), UTC
            ).isoformat(timespec="seconds"),
        }

    # -- reading ----------------------------------------------------------------------------
    def handle(self, topic: str, value: bytes | None, sent_at: float | None = None) -> None:
        """One message of either topic; `sent_at`: the record's timestamp (a label's time when
        it says none: the same on every reading, so a replay decides as the first did)."""
        kind = self.topics[topic]
        watched = self.watched
        try:
            if kind == "requests":
                self.joiner.add_prediction(
                    parse_prediction(value, watched.model_name, watched.version, self.output_names)
                )
            else:
                label = parse_label(value, watched.model_name, self.output_names, sent_at)
                self.joiner.add_label(label)
        except SkippedMessage as skipped:
            self.joiner.skip(kind, skipped.reason)
            log.debug("skipped a message of %s: %s", topic, skipped)

    def step(self) -> None:
        from confluent_kafka import KafkaException

        messages = self._consumer.consume(MAX_POLL_RECORDS, timeout=POLL_TIMEOUT_MS / 1000)
        errors = [m.error() for m in messages if m.error() is not None]
        for message in messages:
            if message.error() is None:
                kind, stamp = message.timestamp()
                self.handle(message.topic(), message.value(), stamp / 1000 if kind else None)
                key = state.positions_key(message.topic(), message.partition())
                self.positions[key] = message.offset() + 1
        if errors:
            raise KafkaException(errors[0])
        # Saved when something was read since (an idle monitor rewrites nothing).
        due = time.monotonic() - self._last_save >= self._interval
        if due and self.positions != self._saved_positions:
            self.save()

    def _connect(self) -> Any:
        from confluent_kafka import Consumer

        consumer = Consumer(
            consumer_config(self.settings, self.settings.quality_consumer_group, "quality")
        )
        consumer.subscribe(
            list(self.topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        return consumer

    def _on_assign(self, consumer: Any, partitions: list) -> None:
        """Resume at the saved positions; a partition never read starts as the drift service's
        do (the group's commit, else DRIFT_START_OFFSET)."""
        new = [
            tp
            for tp in partitions
            if state.positions_key(tp.topic, tp.partition) not in self.positions
        ]
        starts = {
            (tp.topic, tp.partition): tp.offset
            for tp in starting_offsets(consumer, new, self.settings.drift_start_offset)
        }
        for tp in partitions:
            key = state.positions_key(tp.topic, tp.partition)
            tp.offset = self.positions.get(key, starts.get((tp.topic, tp.partition), tp.offset))
        consumer.assign(partitions)
        self._assigned = sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)
        log.info(
            "quality: reading %s",
            ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in partitions),
        )

    def _on_revoke(self, _consumer: Any, _partitions: list) -> None:
        # The state and the positions read so far agree: save them, so whoever reads these
        # partitions next (this process again, after the rebalance) resumes right there.
        self._assigned = []
        self.save()

    def _shutdown(self) -> None:
        try:
            self.save()  # a clean stop loses nothing and re-reads nothing
        except Exception as error:  # the last save's positions are re-read: nothing lost
            log.warning("final quality save failed (%s)", error)
        super()._shutdown()


def start(settings: Settings, watched: WatchedVersion) -> QualityMonitor:
    """The monitor of the watched version: its reference from the training run, its output
    names from its MLmodel."""
    reference = reference_figures(settings, watched.run_id)
    names = registry.output_names(settings, watched.version)
    return QualityMonitor(settings, watched, names, reference)
