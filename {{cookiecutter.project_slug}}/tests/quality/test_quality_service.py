"""The quality monitor in the drift service, with the real broker and MLflow: predictions,
then labels (some late, some for unknown ids, malformed ones), a crash mid-stream, and the
exported figures against a direct computation over the same rows."""

from __future__ import annotations

import json
import os
import signal
import uuid

import pytest

from {{ cookiecutter.package_name }}.tasks import task

from ..drift.drift_process import model_outputs, produce, start_drift_service
from ..probes import metric_total
from .labelled import START, direct, label_message, new_id, prediction_message, rows

pytestmark = pytest.mark.slow

COUNT, WINDOW, HORIZON, GRACE = 600, 100, 100.0, 30.0


def quality_env(version: str, state: str, requests: str, labels: str, group: str) -> dict:
    return {
        "MODEL_VERSION": version, "REQUEST_TOPIC": requests, "LABELS_TOPIC": labels,
        "DRIFT_CONSUMER_GROUP": f"{group}-drift", "QUALITY_CONSUMER_GROUP": group,
        "QUALITY_STATE_DIR": state, "DRIFT_START_OFFSET": "earliest",
        "QUALITY_WINDOW_ROWS": str(WINDOW), "QUALITY_HORIZON_SECONDS": str(HORIZON),
        "QUALITY_GRACE_SECONDS": str(GRACE),
    }  # fmt: skip


def figures(service) -> dict:
    text = service.metrics()
    return {
        "labels": {o: metric_total(text, "model_quality_labels_total", outcome=o)
                   for o in ("matched", "late", "duplicate", "unknown_id", "wrong_width")},
        "rows": {o: metric_total(text, "model_quality_predictions_total", outcome=o)
                 for o in ("labelled", "unlabelled")},
        "skipped": metric_total(text, "model_quality_messages_skipped_total", topic="labels"),
        "windows": metric_total(text, "model_quality_windows_total"),
        "quality": {m: metric_total(text, "model_quality", metric=m) for m in task.QUALITY_METRICS},
    }  # fmt: skip


def test_the_exported_quality_equals_a_direct_computation_through_a_crash(
    trained, kafka, state_dir
):
    version = trained.version
    requests, labels = f"quality-req-{uuid.uuid4().hex[:6]}", f"quality-lab-{uuid.uuid4().hex[:6]}"
    kafka.create_topic(requests)
    kafka.create_topic(labels)
    env = quality_env(version, str(state_dir / f"quality-{uuid.uuid4().hex[:6]}"), requests,
                      labels, f"quality-{uuid.uuid4().hex[:6]}")  # fmt: skip
    features, _, truth = rows(COUNT, seed=11)
    outputs = model_outputs(version, features)
    from {{ cookiecutter.package_name }}.registry import output_names
    from {{ cookiecutter.package_name }}.settings import load_settings

    names = output_names(load_settings({**os.environ, **env}), version)
    ids = [new_id() for _ in range(COUNT)]
    # Every prediction within the horizon (0.1 s apart), labels in time for the first 500.
    predictions = [prediction_message(ids[i], START + i / 10, [outputs[i].tolist()],
                                      version=version) for i in range(COUNT)]  # fmt: skip
    produce(kafka, requests, predictions)
    first = start_drift_service(state_dir, "quality-first", **env)
    first.wait_for(lambda: first.health()[1]["quality"]["pending_predictions"] == COUNT,
                   "every prediction read")  # fmt: skip
    produce(kafka, labels, [label_message(ids[i], [truth[i]]) for i in range(250)])
    first.wait_for(lambda: figures(first)["labels"]["matched"] == 250, "250 joined and saved")
    # 100 more, and a crash right away: some are read, perhaps joined, but not saved.
    produce(kafka, labels, [label_message(ids[i], [truth[i]]) for i in range(250, 350)])
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait(10)

    second = start_drift_service(state_dir, "quality-second", **env)
    unknown = [label_message(new_id(), [truth[0]], START) for _ in range(7)]
    bad = [b"{not json", json.dumps({"request_id": ids[0]}).encode()]
    produce(kafka, labels, [label_message(ids[i], [truth[i]]) for i in range(350, 500)]
            + [label_message(ids[0], [truth[0]])] + unknown + bad)  # fmt: skip
    second.wait_for(lambda: figures(second)["labels"]["matched"] == 500, "500 joined")
    # Time moves on (a prediction 200 s later): the 100 unlabelled expire, the unknown labels
    # give up; then labels for 20 of the expired ones come late.
    produce(kafka, requests, [prediction_message(new_id(), START + 200, [outputs[0].tolist()],
                                                 version=version)])  # fmt: skip
    second.wait_for(lambda: figures(second)["rows"]["unlabelled"] == 100, "100 unlabelled")
    produce(kafka, labels, [label_message(ids[i], [truth[i]]) for i in range(500, 520)])
    second.wait_for(lambda: figures(second)["labels"]["late"] == 20, "20 late labels")
    second.stop()
    restarted = start_drift_service(state_dir, "quality-third", **env)  # and a clean restart
    found = figures(restarted)
    restarted.stop()
    assert found["labels"] == {"matched": 500, "late": 20, "duplicate": 1, "unknown_id": 7,
                               "wrong_width": 0}  # fmt: skip
    assert found["rows"] == {"labelled": 500, "unlabelled": 100}
    assert found["skipped"] == 2 and found["windows"] == 5
    last = range(400, 500)  # joined in the labels' order: the fifth window
    expected = direct([task.predicted(outputs[i], names) for i in last],
                      [task.label(truth[i], names) for i in last])  # fmt: skip
    assert found["quality"] == pytest.approx(expected, rel=1e-9)
