"""Drift-service helpers shared by the tests: traffic, request-log messages, the process."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from {{ cookiecutter.package_name }}.data import FEATURES
from {{ cookiecutter.package_name }}.devstack import services
from {{ cookiecutter.package_name }}.devstack.processes import Started, free_port
from {{ cookiecutter.package_name }}.devstack.services import KafkaBroker
from {{ cookiecutter.package_name }}.settings import MODEL_NAME, load_settings

from ..probes import get, metric_total, scrape

NAMES = list(FEATURES)
SHIFTED = NAMES[2]  # the feature the shifted traffic moves


def continuous(reference: np.ndarray) -> np.ndarray:
    """Per feature, whether it is a measurement of many values: no value holds more than a
    quarter of the rows (a code, a flag or a heavily rounded value does)."""

    def top_share(column: np.ndarray) -> float:
        return np.unique(column, return_counts=True)[1].max() / len(column)

    return np.array([top_share(column) <= 0.25 for column in reference.T])


def traffic(reference: np.ndarray, count: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """In-distribution rows (dataset rows with measurement noise of 5 % of each feature's
    spread), optionally shifted by `shift` of SHIFTED's standard deviations. A feature that is
    not `continuous` keeps its values: noise there would be drift of its own (a two-sample
    test sees its ties broken)."""
    rng = np.random.default_rng(seed)
    spread = reference.std(axis=0)
    sample = reference[rng.integers(len(reference), size=count)]
    noisy = sample + rng.normal(0.0, 1.0, sample.shape) * (0.05 * spread * continuous(reference))
    noisy[:, NAMES.index(SHIFTED)] += shift * spread[NAMES.index(SHIFTED)]
    return noisy


@functools.cache
def output_names() -> tuple[str, ...]:
    """The names of the model's outputs per row (tasks/): those of model.py's, fitted."""
    from {{ cookiecutter.package_name }}.data import TARGET, load_dataset
    from {{ cookiecutter.package_name }}.model import build_model
    from {{ cookiecutter.package_name }}.tasks import task

    frame = load_dataset()
    model = build_model(0).fit(frame[NAMES].to_numpy(), frame[TARGET].to_numpy())
    return tuple(task.output_names(model))


def output_width() -> int:
    """How many outputs the model answers per row."""
    return len(output_names())


def message(rows: list, version: str = "1", **changes: object) -> dict:
    body = {
        "request_id": uuid.uuid4().hex,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "model_name": MODEL_NAME,
        "model_version": version,
        "predictor": "default",
        "feature_names": NAMES,
        "rows": rows,
        "output_names": list(output_names()),
        "predictions": [[0.5] * output_width() for _ in rows],
    }
    body.update(changes)
    return body


def encode(body: object) -> bytes:
    return json.dumps(body).encode()


@dataclass
class DriftProcess:
    server: Started
    url: str

    @property
    def process(self) -> subprocess.Popen:
        return self.server.process

    @property
    def log(self) -> Path:
        return self.server.log_path

    def stop(self) -> None:
        self.server.stop()

    def metrics(self) -> str:
        return scrape(f"{self.url}/metrics")

    def health(self) -> tuple[int, dict]:
        status, text = get(f"{self.url}/health")
        return status, json.loads(text)

    def value(self, name: str, **labels: str) -> float:
        return metric_total(self.metrics(), name, **labels)

    def wait_for(self, condition, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"drift service exited:\n{self.log.read_text()[-3000:]}")
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log.read_text()[-3000:]}")

    def wait_until_consuming(self) -> None:
        self.wait_for(lambda: self.health()[1].get("assigned_partitions"), "a partition")


def start_drift_service(state_dir: Path, name: str, **env: str) -> DriftProcess:
    """The drift service (and its quality monitor, whose saved state is its own unless
    QUALITY_STATE_DIR says where), once it reads its topic."""
    env.setdefault("QUALITY_STATE_DIR", str(state_dir / f"quality-{name}-{uuid.uuid4().hex[:6]}"))
    port = free_port()
    log = state_dir / f"drift-{name}.log"
    server = services.drift_service(port).run(log, {**os.environ, **env})
    service = DriftProcess(server, services.local_url(port))
    service.wait_until_consuming()
    return service


def produce(kafka: KafkaBroker, topic: str, payloads: list[bytes]) -> None:
    from kafka import KafkaProducer

    # Any producer of the cluster, not only the model server's: messages up to 8 MB.
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=5,
                             max_request_size=8 * 2**20)  # fmt: skip
    try:
        sent = [producer.send(topic, payload) for payload in payloads]
        producer.flush(timeout=30)
        for future in sent:
            future.get(timeout=30)  # written, or the error
    finally:
        producer.close()


def one_row_messages(matrix: np.ndarray, version: str,
                     outputs: np.ndarray | None = None) -> list[bytes]:  # fmt: skip
    """One message per row; its prediction is `outputs`' row (what the model answered), else a
    placeholder of the model's width (for a detector that watches the features alone)."""
    placeholder = [[0.5] * output_width()] * len(matrix)
    predictions = outputs.tolist() if outputs is not None else placeholder
    return [encode(message([row], version=version, predictions=[prediction]))
            for row, prediction in zip(matrix.tolist(), predictions, strict=True)]  # fmt: skip


@functools.cache
def _served_model(version: str):
    from {{ cookiecutter.package_name }}.registry import load_served_model

    return load_served_model(load_settings({**os.environ, "MODEL_VERSION": version})).model


def model_outputs(version: str, matrix: np.ndarray) -> np.ndarray:
    """What registered `version` answers for `matrix` (the model server's outputs)."""
    from {{ cookiecutter.package_name }}.tasks import task

    return task.outputs(_served_model(version), matrix)


def committed_offset(kafka: KafkaBroker, topic: str, group: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group,
                             enable_auto_commit=False)  # fmt: skip
    try:
        return consumer.committed(TopicPartition(topic, 0)) or 0
    finally:
        consumer.close()
