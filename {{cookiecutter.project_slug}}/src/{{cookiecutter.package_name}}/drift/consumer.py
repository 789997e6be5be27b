"""What the drift service's two Kafka readers share: the drift test's (service.py) and the
quality monitor's (quality/service.py). Their consumer settings, where a new group starts
reading, and the loop that keeps a consumer turning through broker outages."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..settings import Settings

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 200
MAX_POLL_RECORDS = 5000
BROKER_TIMEOUT_MS = 3000
# How often the topic's metadata is re-read. A group joined while the topic was missing gets
# no partition until the consumer sees the topic at a metadata refresh (librdkafka's default:
# every 5 minutes); the same holds for partitions added later. One small metadata request
# every few seconds keeps that wait short.
METADATA_REFRESH_MS = 5000
RECONNECT_BACKOFF = (0.5, 10.0)
# /live fails (and Kubernetes restarts the pod) if a loop has not turned for this long.
STUCK_AFTER = 120.0


def consumer_config(settings: Settings, group: str, client: str) -> dict[str, Any]:
    """librdkafka's settings of the drift service's consumers: the drift user's login, its
    group, offsets committed by hand."""
    return {
        **settings.kafka.librdkafka(),  # the address and the drift user's login
        "group.id": group,
        "client.id": f"{settings.model_name}-{client}",
        "enable.auto.commit": False,
        "auto.offset.reset": settings.drift_start_offset,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 2000,
        "fetch.wait.max.ms": 100,
        "reconnect.backoff.max.ms": 2000,
        "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
        "log_level": 2,
    }


def starting_offsets(consumer: Any, partitions: list, start: str) -> list:
    """The group's committed offsets; where it has none, the end ("latest") or the start of
    the log."""
    from confluent_kafka import KafkaException

    timeout = BROKER_TIMEOUT_MS / 1000
    try:
        starts = consumer.committed(partitions, timeout=timeout)
        for position in starts:
            if position.error is not None:
                raise KafkaException(position.error)
            if position.offset < 0:  # nothing committed yet: `start` says where
                low, high = consumer.get_watermark_offsets(position, timeout=timeout,
                                                           cached=False)  # fmt: skip
                position.offset = high if start == "latest" else low
    except KafkaException as error:  # librdkafka then resolves them itself
        log.warning("looking up where to start reading failed (%s)", error)
        return partitions
    return starts


def fatal(error: Exception) -> bool:
    reason = error.args[0] if error.args else None
    return bool(getattr(reason, "fatal", lambda: False)())


class ConsumerLoop:
    """A consumer turned by `run()` until `stopping` is set: `_connect()` makes the consumer,
    `step()` reads once. A failing step is retried with a growing back-off (the broker is gone,
    a commit was refused, ...); a consumer librdkafka has given up is dropped and a new one
    made; `_shutdown()` runs last. `alive()` is false once the loop stops turning."""

    label = "Kafka"  # how this reader's log lines name it

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._consumer: Any = None
        self._broker_error: str | None = "not connected yet"
        self._heartbeat = time.monotonic()

    def _connect(self) -> Any:
        raise NotImplementedError

    def step(self) -> None:
        raise NotImplementedError

    def _drop_consumer(self) -> None:
        """Close the consumer (it is gone anyway) and forget it; the next turn makes one."""
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            consumer.close()  # leaves the group; auto-commit is off, so it commits nothing
        except Exception as error:  # the group forgets it after its session timeout
            log.warning("%s: closing the consumer failed (%s)", self.label, error)

    def _shutdown(self) -> None:
        self._drop_consumer()

    def _broker_down(self, error: Exception, backoff: float) -> None:
        message = f"{type(error).__name__}: {error}"
        if self._broker_error != message:  # once per kind of trouble, not at every retry
            log.warning("%s: Kafka problem (%s); retrying in %.1f s", self.label, message,
                        backoff)  # fmt: skip
        self._broker_error = message

    def _broker_up(self) -> None:
        self._broker_error = None

    def alive(self) -> bool:
        return time.monotonic() - self._heartbeat < STUCK_AFTER

    def run(self) -> None:
        backoff = RECONNECT_BACKOFF[0]
        while not self.stopping.is_set():
            self._heartbeat = time.monotonic()
            try:
                if self._consumer is None:
                    self._consumer = self._connect()
                self.step()
            except Exception as error:
                self._broker_down(error, backoff)
                if fatal(error):  # librdkafka has given this consumer up: start a new one
                    self._drop_consumer()
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, RECONNECT_BACKOFF[1])
                continue
            self._broker_up()
            backoff = RECONNECT_BACKOFF[0]
        self._shutdown()
