"""Request logging to Kafka: one message per prediction, never in a prediction's way.

`log()` only puts a reference on a bounded in-memory queue (microseconds). A background
thread serializes and hands the messages to librdkafka (confluent-kafka), whose own threads
send them without holding the interpreter lock: about 10 us of the serving process's Python
time per message, against about 160 us with a pure-Python client. When Kafka is down, slow or
unreachable, messages time out or the queues fill and they are dropped and counted;
production resumes by itself when Kafka returns.
The message format is `schemas/request_log.schema.json`; the drift service consumes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SCHEMA_FILE = "request_log.schema.json"
DEFAULT_QUEUE_SIZE = 10_000
# Back-off between attempts to (re)connect to Kafka, doubling up to the maximum.
RECONNECT_BACKOFF = (0.5, 10.0)
# The producer wakes this often and sends everything queued at once: few, short bursts of
# work leave the serving thread the interpreter lock (a wake-up per message costs it ~30%).
DRAIN_INTERVAL = 0.05
# Seconds between two reports of the same kind of Kafka trouble in the server's log.
ERROR_REPORT_INTERVAL = 60.0


def message_schema() -> dict[str, Any]:
    return json.loads(files(__package__).joinpath("schemas", SCHEMA_FILE).read_text())


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class _Entry:
    request_id: str
    timestamp: str
    model_version: str
    feature_names: list[str]
    rows: np.ndarray
    class_names: list[str]
    predictions: np.ndarray


class DeltaCounts:
    """Thread-safe counters exported as metrics, read as deltas since the last read.

    Some runtimes take custom metrics as increments reported per request, so each count is
    handed over exactly once, whichever request (or health check) asks next.
    """

    def __init__(self, *names: str) -> None:
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(names, 0)
        self._reported = dict(self._totals)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._totals[name] = self._totals.get(name, 0) + amount

    def total(self, name: str) -> int:
        with self._lock:
            return self._totals.get(name, 0)

    def deltas(self) -> dict[str, int]:
        with self._lock:
            deltas = {k: v - self._reported.get(k, 0) for k, v in self._totals.items()}
            self._reported = dict(self._totals)
        return deltas


class RequestLogger:
    """Produces request messages from a background thread; `log()` never blocks or raises."""

    def __init__(
        self,
        bootstrap_servers: str | None,
        topic: str,
        model_name: str,
        *,
        predictor: str = "default",
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.model_name = model_name
        self.predictor = predictor
        self.counts = DeltaCounts("sent", "dropped")
        self._queue: queue.Queue[_Entry] = queue.Queue(maxsize=queue_size)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error_report = -ERROR_REPORT_INTERVAL
        if bootstrap_servers:
            log.info("request logging to Kafka %s, topic %s", bootstrap_servers, topic)
        else:
            log.warning("request logging is off: KAFKA_BOOTSTRAP_SERVERS is not set")

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap_servers)

    def start(self) -> None:
        """Start the producer thread (in the serving process, after any fork)."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
            self._thread.start()

    def log(
        self,
        request_id: str,
        model_version: str,
        feature_names: list[str],
        rows: np.ndarray,
        class_names: list[str],
        predictions: np.ndarray,
    ) -> None:
        if not self.enabled:
            return
        entry = _Entry(
            request_id, datetime.now(UTC).isoformat(), model_version, feature_names, rows,
            class_names, predictions,
        )  # fmt: skip
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.counts.add("dropped")

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (up to `timeout`) and stop the thread."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def encode(self, entry: _Entry) -> bytes:
        return json.dumps(
            {
                "request_id": entry.request_id,
                "timestamp": entry.timestamp,
                "model_name": self.model_name,
                "model_version": entry.model_version,
                "predictor": self.predictor,
                "feature_names": entry.feature_names,
                "rows": entry.rows.tolist(),
                "class_names": entry.class_names,
                "predictions": entry.predictions.tolist(),
            },
            separators=(",", ":"),
        ).encode()

    def _connect(self):
        from confluent_kafka import Producer

        return Producer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "client.id": f"{self.model_name}-server",
                "acks": 1,
                "linger.ms": int(DRAIN_INTERVAL * 1000),
                # A broker outage must surface as counted drops within seconds, not minutes.
                "message.timeout.ms": 10000,
                "socket.timeout.ms": 5000,
                "reconnect.backoff.max.ms": 2000,
                "queue.buffering.max.messages": self._queue.maxsize,
                # librdkafka reports a broker outage at every reconnect: through error_cb,
                # at most once a minute; the drops are counted as they happen.
                "log_level": 2,
                "error_cb": self._kafka_error,
            }
        )

    def _kafka_error(self, error) -> None:
        now = time.monotonic()
        if now - self._last_error_report >= ERROR_REPORT_INTERVAL:
            self._last_error_report = now
            log.warning("Kafka: %s (request logs are dropped and counted meanwhile)", error)

    def _drain(self) -> list[_Entry]:
        entries = []
        with contextlib.suppress(queue.Empty):
            while True:
                entries.append(self._queue.get_nowait())
        return entries

    def _run(self) -> None:
        producer, backoff = None, RECONNECT_BACKOFF[0]
        while not self._stopped.is_set() or self._queue.qsize():
            self._stopped.wait(DRAIN_INTERVAL)
            entries = self._drain()
            if producer is not None:
                producer.poll(0)  # delivery reports: sent or dropped
            if not entries:
                continue
            if producer is None:
                try:
                    producer = self._connect()
                    backoff = RECONNECT_BACKOFF[0]
                except Exception as error:  # a bad configuration: drop, back off, retry later
                    self.counts.add("dropped", len(entries))
                    log.warning("Kafka unavailable (%s); retrying in %.1f s", error, backoff)
                    self._stopped.wait(backoff)
                    backoff = min(backoff * 2, RECONNECT_BACKOFF[1])
                    continue
            for entry in entries:
                self._send(producer, entry)
        if producer is not None:
            undelivered = producer.flush(2)
            self.counts.add("dropped", undelivered)

    def _delivered(self, error, _message) -> None:
        self.counts.add("dropped" if error is not None else "sent")

    def _send(self, producer, entry: _Entry) -> None:
        try:
            producer.produce(self.topic, key=entry.request_id.encode(),
                             value=self.encode(entry), on_delivery=self._delivered)  # fmt: skip
        except Exception as error:  # BufferError (librdkafka's queue is full), KafkaException
            self.counts.add("dropped")
            log.debug("request log message dropped: %s", error)
