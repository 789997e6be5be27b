"""Request logging to Kafka: one message per prediction, never in a prediction's way.

`log()` serializes the message and hands it to librdkafka (confluent-kafka): about 7 us of
the request's time, never blocking (a full queue drops the message and counts it), and
librdkafka's own threads batch and send without holding the interpreter lock. A background
thread only collects delivery failures and counts what was delivered, twice a second.
(Serializing in a background thread instead made it hold the interpreter lock in bursts
while requests waited: the p99 latency of one connection rose by 70 %.) When Kafka is down,
slow or unreachable, messages time out or the queue fills and they are dropped and counted;
production resumes by itself when Kafka returns.
The message format is `schemas/request_log.schema.json`; the drift service consumes it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import numpy as np

from .settings import KafkaAccess

log = logging.getLogger(__name__)

SCHEMA_FILE = "request_log.schema.json"
DEFAULT_QUEUE_SIZE = 10_000
# Back-off between attempts to create the Kafka producer, doubling up to the maximum.
RECONNECT_BACKOFF = (0.5, 10.0)
# librdkafka waits this long to batch messages before sending them.
LINGER = 0.05
# How often delivery failures are collected and delivered messages counted.
COUNT_INTERVAL = 0.5
# Seconds between two reports of the same kind of Kafka trouble in the server's log.
ERROR_REPORT_INTERVAL = 60.0


def message_schema() -> dict[str, Any]:
    return json.loads(files(__package__).joinpath("schemas", SCHEMA_FILE).read_text())


def new_request_id() -> str:
    return uuid.uuid4().hex


def encode_message(
    request_id: str,
    model_name: str,
    model_version: str,
    predictor: str,
    feature_names: list[str],
    rows: np.ndarray,
    output_names: list[str],
    predictions: np.ndarray,
) -> bytes:
    """One message of schemas/request_log.schema.json (the model servers' and batch
    scoring's)."""
    return json.dumps(
        {
            "request_id": request_id,
            "timestamp": datetime.now(UTC).isoformat(),
            "model_name": model_name,
            "model_version": model_version,
            "predictor": predictor,
            "feature_names": feature_names,
            "rows": rows.tolist(),
            "output_names": output_names,
            "predictions": predictions.tolist(),
        },
        separators=(",", ":"),
    ).encode()


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
    """Produces request messages through librdkafka; `log()` never blocks or raises."""

    def __init__(
        self,
        kafka: KafkaAccess | str | None,
        topic: str,
        model_name: str,
        *,
        predictor: str = "default",
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        # Where Kafka is and the server's own login (a plain address: no login).
        self.kafka = kafka if isinstance(kafka, KafkaAccess) else KafkaAccess(kafka)
        self.topic = topic
        self.model_name = model_name
        self.predictor = predictor
        self.queue_size = queue_size
        self.counts = DeltaCounts("sent", "dropped")
        # Handed to librdkafka; the delivered ones are what is neither failed nor waiting.
        self._accepted = DeltaCounts("accepted")
        self._failed = 0
        self._delivered = 0
        self._producer: Any = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error_report = -ERROR_REPORT_INTERVAL
        if self.bootstrap_servers:
            log.info("request logging to Kafka %s, topic %s", self.bootstrap_servers, topic)
        else:
            log.warning("request logging is off: KAFKA_BOOTSTRAP_SERVERS is not set")

    @property
    def bootstrap_servers(self) -> str | None:
        return self.kafka.bootstrap_servers

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap_servers)

    def start(self) -> None:
        """Create the producer and its delivery thread (in the serving process, after any
        fork). Creating it does not wait for the broker."""
        if self.enabled and self._thread is None:
            self._try_connect()
            self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
            self._thread.start()

    def log(
        self,
        request_id: str,
        model_version: str,
        feature_names: list[str],
        rows: np.ndarray,
        output_names: list[str],
        predictions: np.ndarray,
    ) -> None:
        producer = self._producer
        if producer is None:
            if self.enabled:  # no producer yet (see _run): the message is lost, and counted
                self.counts.add("dropped")
            return
        value = self.encode(request_id, model_version, feature_names, rows, output_names,
                            predictions)  # fmt: skip
        self.send(self.topic, request_id, value)

    def send(self, topic: str, key: str, value: bytes) -> bool:
        """Hand one message to librdkafka (the request log's, or another topic's, such as
        the labels a feedback call sends); False, counted as dropped, when it was refused."""
        producer = self._producer
        if producer is None:
            if self.enabled:
                self.counts.add("dropped")
            return False
        try:
            producer.produce(topic, key=key.encode(), value=value, on_delivery=self._on_delivery)
        except Exception as error:  # BufferError (librdkafka's queue is full), KafkaException
            self.counts.add("dropped")
            log.debug("message to %s dropped: %s", topic, error)
            return False
        self._accepted.add("accepted")
        return True

    @property
    def queue_depth(self) -> int:
        """Messages handed to librdkafka and not delivered (or failed) yet."""
        producer = self._producer
        return len(producer) if producer is not None else 0

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (up to `timeout`), count it, and stop the thread."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def encode(
        self,
        request_id: str,
        model_version: str,
        feature_names: list[str],
        rows: np.ndarray,
        output_names: list[str],
        predictions: np.ndarray,
    ) -> bytes:
        return encode_message(request_id, self.model_name, model_version, self.predictor,
                              feature_names, rows, output_names, predictions)  # fmt: skip

    def _try_connect(self) -> bool:
        from confluent_kafka import Producer

        try:
            self._producer = Producer(
                {
                    **self.kafka.librdkafka(),  # the address and the login
                    "client.id": f"{self.model_name}-server",
                    "acks": 1,
                    "linger.ms": int(LINGER * 1000),
                    # A broker outage must surface as counted drops within seconds.
                    "message.timeout.ms": 10000,
                    "socket.timeout.ms": 5000,
                    "reconnect.backoff.max.ms": 2000,
                    "queue.buffering.max.messages": self.queue_size,
                    # A report per delivered message would take the interpreter lock once
                    # per message; failures are reported, deliveries are counted (_count).
                    "delivery.report.only.error": True,
                    # librdkafka reports a broker outage at every reconnect: through
                    # error_cb, at most once a minute; the drops are counted as they happen.
                    "log_level": 2,
                    "error_cb": self._kafka_error,
                }
            )
        except Exception as error:  # a bad configuration: messages are dropped, retried later
            log.warning("Kafka producer not created (%s); request logs are dropped", error)
            return False
        return True

    def _kafka_error(self, error: Any) -> None:
        now = time.monotonic()
        if now - self._last_error_report >= ERROR_REPORT_INTERVAL:
            self._last_error_report = now
            log.warning("Kafka: %s (request logs are dropped and counted meanwhile)", error)

    def _on_delivery(self, error: Any, _message: Any) -> None:
        """Called in `poll()`, on this logger's thread; only for failed messages."""
        if error is not None:
            self._failed += 1
            self.counts.add("dropped")

    def _count(self, producer: Any) -> None:
        """Delivered = accepted - failed - still waiting. Read in this order, a message
        accepted meanwhile is counted as waiting, never as delivered."""
        producer.poll(0)
        accepted = self._accepted.total("accepted")
        delivered = accepted - self._failed - len(producer)
        if delivered > self._delivered:
            self.counts.add("sent", delivered - self._delivered)
            self._delivered = delivered

    def _run(self) -> None:
        backoff = RECONNECT_BACKOFF[0]
        while self._producer is None and not self._stopped.wait(backoff):
            if self._try_connect():
                break
            backoff = min(backoff * 2, RECONNECT_BACKOFF[1])
        producer = self._producer
        if producer is None:
            return
        while not self._stopped.wait(COUNT_INTERVAL):
            self._count(producer)
        undelivered = producer.flush(2)
        self._count(producer)
        self.counts.add("dropped", undelivered)
