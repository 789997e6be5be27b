"""The request logger without a broker: it never blocks or raises, and counts what it drops."""

from __future__ import annotations

import json
import time

import jsonschema
import numpy as np

from {{ cookiecutter.package_name }}.devstack.processes import free_port
from {{ cookiecutter.package_name }}.request_log import RequestLogger, message_schema

ROWS = np.array([[5.1, 3.5, 1.4, 0.2]])
OUTPUTS = np.array([[0.9, 0.07, 0.03]])


def _log(logger: RequestLogger, request_id: str = "r-1") -> None:
    logger.log(request_id, "3", ["a", "b", "c", "d"], ROWS, ["x", "y", "z"], OUTPUTS)


def test_messages_follow_the_published_schema():
    logger = RequestLogger("127.0.0.1:1", "topic", "model")
    message = json.loads(logger.encode("r-1", "3", ["a", "b", "c", "d"], ROWS, ["x", "y", "z"],
                                       OUTPUTS))  # fmt: skip
    jsonschema.validate(message, message_schema())
    assert message["request_id"] == "r-1" and message["model_version"] == "3"
    assert message["rows"] == ROWS.tolist() and message["predictions"] == OUTPUTS.tolist()


def test_without_bootstrap_servers_logging_is_off(caplog):
    logger = RequestLogger(None, "topic", "model")
    assert "request logging is off" in caplog.text
    logger.start()
    _log(logger)
    assert not logger.enabled and logger.queue_depth == 0


def test_an_unreachable_broker_costs_a_prediction_microseconds_and_is_counted():
    # Nothing listens on this port: every connection attempt fails.
    logger = RequestLogger(f"127.0.0.1:{free_port()}", "topic", "model", queue_size=100)
    logger.start()
    started = time.perf_counter()
    for index in range(1000):
        _log(logger, f"r-{index}")
    per_call = (time.perf_counter() - started) / 1000
    assert per_call < 0.001, f"log() took {per_call * 1e6:.0f} us per call"
    assert logger.counts.total("dropped") >= 900  # the queue holds 100, the rest are dropped
    assert logger.queue_depth >= 100  # librdkafka counts its own pending requests too
    assert logger.counts.deltas()["dropped"] >= 900
    assert logger.counts.deltas()["dropped"] == 0  # deltas are reported once
    logger.close(timeout=5)  # the 100 queued cannot be sent either: dropped, none sent
    assert logger.counts.total("dropped") == 1000 and logger.counts.total("sent") == 0
