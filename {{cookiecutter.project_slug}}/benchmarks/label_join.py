"""Measure the quality monitor: labels joined per second on one core, and memory per pending
prediction.

Pinned to one CPU, it prints:
- in process, interleaved rounds: the monitor's join (each label message parsed, checked and
  joined to its pending prediction: `parse_label` + `Joiner.add_label`, windows measured as
  they fill) next to the plain anchor (`json.loads` and a dict pop: the least any join in
  Python does), in labels/s, and their ratio; predictions read per second the same way;
- through Kafka (a real tansu broker, on the other cores where there are any): a backlog of
  one-row predictions and their labels read by `QualityMonitor.step` (consumer, both topics,
  the join, state saves) until every label is joined: labels/s end to end, the median of
  three runs (target: >= 20,000);
- memory held per pending prediction (tracemalloc, one-row requests; the settled id kept for
  late labels included).
Usage: make bench-quality (everything on 127.0.0.1; stops by itself).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

LABELS = int(os.environ.get("BENCH_QUALITY_LABELS", "100000"))
ROUNDS = 5
KAFKA_ROUNDS = 3
TARGET_LABELS_PER_SECOND = 20_000
WINDOW_ROWS = 200


def _pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _move_off_our_core(pid: int) -> None:
    """Every thread of process `pid` (the broker: not what is measured) to the cores this
    process is not pinned to, where there are any."""
    if not hasattr(os, "sched_setaffinity"):
        return
    others = set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0)
    if not others:
        return
    for thread in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(thread.name), others)


def _traffic(count: int) -> tuple[list[str], list[bytes], list[bytes], list[str]]:
    """Request ids, their request-log messages (one row each), label messages and names."""
    import numpy as np

    from {{ cookiecutter.package_name }}.data import FEATURES, TARGET, load_dataset
    from {{ cookiecutter.package_name }}.model import build_model
    from {{ cookiecutter.package_name }}.settings import MODEL_NAME
    from {{ cookiecutter.package_name }}.tasks import task

    frame = load_dataset()
    model = build_model(0).fit(frame[list(FEATURES)].to_numpy(), frame[TARGET].to_numpy())
    sample = frame.sample(n=count, replace=True, random_state=1)
    features = sample[list(FEATURES)].to_numpy()
    outputs = task.outputs(model, features).tolist()
    names = task.output_names(model)
    truths = [v.item() if isinstance(v, np.generic) else v for v in sample[TARGET].tolist()]
    ids = [uuid.uuid4().hex for _ in range(count)]
    start = 1_767_225_600.0  # 2026-01-01
    predictions = [
        json.dumps({
            "request_id": ids[i], "model_name": MODEL_NAME, "model_version": "1",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + i / 100)),
            "predictor": "default", "feature_names": list(FEATURES),
            "rows": [features[i].tolist()], "output_names": names, "predictions": [outputs[i]],
        }).encode()
        for i in range(count)
    ]  # fmt: skip
    labels = [json.dumps({"request_id": ids[i], "labels": [truths[i]]}).encode()
              for i in range(count)]  # fmt: skip
    return ids, predictions, labels, names


def _joiner(names: list[str]):
    from {{ cookiecutter.package_name }}.quality.join import Joiner

    return Joiner(names, horizon=86400.0, grace=300.0, window_size=WINDOW_ROWS)


def _ours(predictions: list[bytes], labels: list[bytes], names: list[str]) -> tuple[float, float]:
    from {{ cookiecutter.package_name }}.quality.messages import parse_label, parse_prediction
    from {{ cookiecutter.package_name }}.settings import MODEL_NAME

    joiner = _joiner(names)
    started = time.perf_counter()
    for value in predictions:
        joiner.add_prediction(parse_prediction(value, MODEL_NAME, "1", names))
    read = time.perf_counter() - started
    started = time.perf_counter()
    for value in labels:
        joiner.add_label(parse_label(value, MODEL_NAME, names))
    joined = time.perf_counter() - started
    assert joiner.label_counts["matched"] == len(labels), joiner.label_counts
    return len(predictions) / read, len(labels) / joined


def _anchor(predictions: list[bytes], labels: list[bytes]) -> tuple[float, float]:
    pending: dict[str, object] = {}
    started = time.perf_counter()
    for value in predictions:
        message = json.loads(value)
        pending[message["request_id"]] = message["predictions"]
    read = time.perf_counter() - started
    started = time.perf_counter()
    for value in labels:
        message = json.loads(value)
        pending.pop(message["request_id"])
    joined = time.perf_counter() - started
    return len(predictions) / read, len(labels) / joined


def _memory_per_pending(predictions: list[bytes], names: list[str]) -> tuple[float, float]:
    """Bytes per pending one-row prediction, and per settled id (kept for late labels)."""
    from {{ cookiecutter.package_name }}.quality.messages import parse_prediction
    from {{ cookiecutter.package_name }}.settings import MODEL_NAME

    tracemalloc.start()
    joiner = _joiner(names)
    before = tracemalloc.get_traced_memory()[0]
    for value in predictions:  # the message itself is dropped, as the service drops it
        joiner.add_prediction(parse_prediction(value, MODEL_NAME, "1", names))
    pending = (tracemalloc.get_traced_memory()[0] - before) / len(predictions)
    joiner.horizon = 0.0  # every prediction expires at the next one: settled ids remain
    joiner.clock = float("inf")
    before = tracemalloc.get_traced_memory()[0]
    joiner._expire()
    settled = pending + (tracemalloc.get_traced_memory()[0] - before) / len(predictions)
    tracemalloc.stop()
    return pending, settled


def _through_kafka(predictions: list[bytes], labels: list[bytes], names: list[str]) -> float:
    from confluent_kafka import Producer

    from {{ cookiecutter.package_name }}.drift.service import WatchedVersion
    from {{ cookiecutter.package_name }}.quality.service import QualityMonitor
    from {{ cookiecutter.package_name }}.settings import MODEL_NAME, load_settings

    suffix = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as folder:
        broker = KafkaBroker(Path(folder) / "kafka.log")
        broker.start()
        _move_off_our_core(broker.server.pid)
        try:
            requests, truth = f"bench-requests-{suffix}", f"bench-labels-{suffix}"
            broker.create_topic(requests)
            broker.create_topic(truth)
            # The backlog comes from librdkafka (C), as the model servers produce it.
            producer = Producer({
                "bootstrap.servers": broker.bootstrap_servers, "linger.ms": 20,
                "queue.buffering.max.messages": 2 * len(labels),
            })  # fmt: skip
            for topic, values in ((requests, predictions), (truth, labels)):
                for value in values:
                    producer.produce(topic, value)
                    producer.poll(0)
            if producer.flush(60):
                raise SystemExit("the broker did not take the backlog in 60 s")
            del producer  # closed: an idle connection the broker drops would log a line
            settings = load_settings({
                **os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "REQUEST_TOPIC": requests, "LABELS_TOPIC": truth,
                "QUALITY_CONSUMER_GROUP": f"bench-{suffix}", "DRIFT_START_OFFSET": "earliest",
                "QUALITY_STATE_DIR": str(Path(folder) / "state"),
                "QUALITY_WINDOW_ROWS": str(WINDOW_ROWS),
            })  # fmt: skip
            monitor = QualityMonitor(settings, WatchedVersion(MODEL_NAME, "1", "bench"), names, {})
            monitor._consumer = monitor._connect()
            started = None
            deadline = time.monotonic() + 300
            while monitor.joiner.label_counts["matched"] < len(labels):
                if time.monotonic() > deadline:
                    raise SystemExit(f"joined only {monitor.joiner.label_counts} in 300 s")
                monitor.step()
                if started is None and (monitor.joiner.pending or monitor.joiner.waiting):
                    started = time.perf_counter()  # from the first message read
            seconds = time.perf_counter() - (started or time.perf_counter())
            monitor.stopping.set()
            monitor._shutdown()
            return len(labels) / seconds
        finally:
            broker.stop()


def main() -> int:
    _pin_to_one_core()
    _, predictions, labels, names = _traffic(LABELS)
    ours, anchor = [], []
    for _ in range(ROUNDS):  # interleaved: both see the same machine state
        ours.append(_ours(predictions, labels, names))
        anchor.append(_anchor(predictions, labels))
    read_ours, join_ours = (statistics.median(r[i] for r in ours) for i in (0, 1))
    read_anchor, join_anchor = (statistics.median(r[i] for r in anchor) for i in (0, 1))
    print(f"one core, {LABELS:,} one-row requests, median of {ROUNDS} interleaved rounds")
    print(f"{'':28} {'ours /s':>12} {'anchor /s':>12} {'ratio':>6}")
    print(f"{'predictions read':28} {read_ours:>12,.0f} {read_anchor:>12,.0f} "
          f"{read_ours / read_anchor:>6.2f}")  # fmt: skip
    print(f"{'labels joined':28} {join_ours:>12,.0f} {join_anchor:>12,.0f} "
          f"{join_ours / join_anchor:>6.2f}")  # fmt: skip
    pending, settled = _memory_per_pending(predictions, names)
    print(f"memory per pending prediction: {pending:,.0f} bytes; per settled one (its id "
          f"kept one more horizon for late labels): {settled:,.0f} bytes")  # fmt: skip
    end_to_end = statistics.median(
        _through_kafka(predictions, labels, names) for _ in range(KAFKA_ROUNDS)
    )
    verdict = "meets" if end_to_end >= TARGET_LABELS_PER_SECOND else "MISSES"
    print(f"through Kafka (QualityMonitor.step, median of {KAFKA_ROUNDS}): {end_to_end:,.0f} "
          f"labels joined/s ({verdict} the {TARGET_LABELS_PER_SECOND:,}/s target)")  # fmt: skip
    return 0 if end_to_end >= TARGET_LABELS_PER_SECOND else 1


if __name__ == "__main__":
    from {{ cookiecutter.package_name }}.devstack.services import KafkaBroker

    sys.exit(main())
