"""The real model server's request log, whichever runtime serves: every prediction reaches
Kafka in the published schema, and a broker outage never fails a prediction."""

from __future__ import annotations

import json
import time
import uuid

import jsonschema
import numpy as np
import pytest

from {{ cookiecutter.package_name }}.data import FEATURES, sample_rows
from {{ cookiecutter.package_name }}.request_log import message_schema
from {{ cookiecutter.package_name }}.runtimes import protocol
from {{ cookiecutter.package_name }}.settings import MODEL_NAME, load_settings

from ..probes import metric_total, post, scrape

pytestmark = pytest.mark.slow
NAMES = list(FEATURES)
MATRIX = sample_rows(3, seed=7).to_numpy().tolist()


def predict(server, request_id: str | None = None) -> tuple[int, dict]:
    return post(f"{server.http}{protocol.PREDICT_PATH}",
                protocol.request_body(MATRIX, NAMES, request_id))  # fmt: skip


def settled_sent(server) -> float:
    """request_log_sent_total once what was sent so far is delivered and counted (within a
    second). A runtime may report its metrics with an answer, so one more prediction is made:
    its own message is counted next time."""
    time.sleep(2)
    assert predict(server)[0] == 200
    return metric_total(scrape(server.metrics), "request_log_sent_total")


def test_every_request_is_logged_to_kafka_with_the_schema(model_server, kafka, trained):
    ids = [f"test-{uuid.uuid4().hex}" for _ in range(20)]
    answers = {}
    sent_before = settled_sent(model_server)
    for request_id in ids:
        status, body = predict(model_server, request_id)
        assert status == 200, body
        answers[request_id] = protocol.outputs(body)
    topic = load_settings().request_topic
    deadline, found = time.monotonic() + 30, {}
    while time.monotonic() < deadline and len(found) < len(ids):
        for message in kafka.read(topic, timeout=2):
            if message.key.decode() in answers:
                found[message.key.decode()] = json.loads(message.value)
    assert sorted(found) == sorted(ids)
    # Each delivered message counted once: the 20, and the first settling prediction's.
    assert settled_sent(model_server) - sent_before == len(ids) + 1
    schema = message_schema()
    for request_id, message in found.items():
        jsonschema.validate(message, schema)
        assert message["request_id"] == request_id
        assert message["model_name"] == MODEL_NAME
        assert message["model_version"] == trained.version
        assert message["predictor"] == load_settings().predictor_name
        assert message["feature_names"] == NAMES
        np.testing.assert_allclose(message["rows"], MATRIX)
        np.testing.assert_allclose(message["predictions"], answers[request_id])


def test_a_broker_outage_never_fails_a_prediction_and_logging_resumes(model_server, kafka):
    if kafka.external:
        pytest.skip("an external broker cannot be stopped by the tests")
    topic = load_settings().request_topic
    kafka.stop()
    try:
        deadline = time.monotonic() + 60
        dropped = 0.0
        latencies = []
        while time.monotonic() < deadline and dropped == 0:
            for _ in range(10):
                started = time.perf_counter()
                status, body = predict(model_server)
                latencies.append(time.perf_counter() - started)
                assert status == 200, body
            dropped = metric_total(scrape(model_server.metrics), "request_log_dropped_total")
            time.sleep(0.5)
        assert dropped > 0, "dropped request logs must be counted while Kafka is down"
        assert np.percentile(latencies, 50) < 0.1  # predictions never wait for Kafka
    finally:
        kafka.restart()
    marker = f"after-outage-{uuid.uuid4().hex}"
    deadline, seen = time.monotonic() + 90, False
    while time.monotonic() < deadline and not seen:
        status, _ = predict(model_server, marker)
        assert status == 200
        seen = any(m.key == marker.encode() for m in kafka.read(topic, timeout=2))
    assert seen, "request logging must resume by itself when the broker is back"
