"""The speed-ups of Seldon's custom-metrics channel give exactly what Seldon's own code gives."""

from __future__ import annotations

import multiprocessing.managers  # noqa: F401 (its reducers registered before `restored` copies)
import random
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest
from seldon_core.metrics import BINS, SeldonMetrics

from {{ cookiecutter.package_name }}.runtimes.seldon_core import seldon_metrics

VALUES = [
    0.0, -1.0, 1e-3, 30.0, 31.0, *map(float, BINS[:-1]),
    *(float(np.nextafter(edge, np.inf)) for edge in BINS[1:-1]),
    *(float(np.nextafter(edge, -np.inf)) for edge in BINS[1:-1]),
    *(random.Random(5).lognormvariate(-6, 2) for _ in range(2000)),
]  # fmt: skip


def test_one_observation_lands_in_the_bin_numpy_histogram_gives():
    counts, total = [0.0] * (len(BINS) - 1), 0.0
    expected = np.zeros(len(BINS) - 1)
    for value in VALUES:
        counts, total = seldon_metrics.add_observation(value, counts, total)
        expected += np.histogram([value], BINS)[0]
    assert counts == expected.tolist()
    assert total == pytest.approx(sum(VALUES))
    # The last bin is closed on both sides, as in numpy: its upper edge is infinity.
    counts, _ = seldon_metrics.add_observation(float("inf"), counts, total)
    assert counts[-1] == expected[-1] + 1


@pytest.fixture
def restored(monkeypatch):
    """Whatever speed_up() changes in this process is put back after the test."""
    monkeypatch.setattr(SeldonMetrics, "update", SeldonMetrics.__dict__["update"])
    monkeypatch.setattr(ForkingPickler, "_extra_reducers", dict(ForkingPickler._extra_reducers))


def report(values: list[float]) -> list[dict]:
    """A report as the model makes one: every metric with a tags dict of its own."""
    labels = {"model": "m", "predictor": "default"}
    return [
        *({"type": "TIMER", "key": "model_predict_seconds", "value": v * 1000, "tags": {**labels}}
          for v in values),
        {"type": "TIMER", "key": "model_predict_seconds", "value": 2.0,
         "tags": {**labels, "predictor": "canary"}},
        {"type": "COUNTER", "key": "model_requests_total", "value": len(values),
         "tags": {**labels}},
        {"type": "COUNTER", "key": "model_rows_total", "value": 2},
        {"type": "GAUGE", "key": "model_served_version", "value": len(values),
         "tags": {**labels}},
    ]  # fmt: skip


def test_seldon_exposes_the_same_metrics_with_and_without_the_speed_ups(restored):
    if SeldonMetrics.__dict__["update"] is seldon_metrics.update:
        pytest.skip("sped up earlier in this process: Seldon's own code is gone")
    # Reports of several sizes, empty ones (most answers report nothing) between them.
    sizes = [1, 0, 250, 0, 0, 999, 1, 0]
    starts = np.cumsum([0, *sizes])
    batches = [VALUES[start : start + size] for start, size in zip(starts, sizes, strict=False)]
    exposed = []
    for sped_up in (False, True):
        if sped_up:
            seldon_metrics.speed_up()
        metrics = SeldonMetrics()
        try:
            for batch in batches:
                metrics.update(report(batch) if batch else [], "predict")
            exposed.append(metrics.generate_metrics()[0])
        finally:
            metrics._manager.shutdown()
    assert "model_predict_seconds_bucket" in exposed[0]
    assert exposed[1] == exposed[0]


def test_a_report_read_back_from_a_grpc_answer_counts_its_zeros(restored):
    """Seldon takes a gRPC answer's metrics back out of protobuf, which leaves out zeros."""
    from seldon_core.utils import json_to_seldon_message, seldon_message_to_json

    seldon_metrics.speed_up()
    labels = {"model": "m", "predictor": "default"}
    sent = [
        {"type": "COUNTER", "key": "request_log_dropped_total", "value": 0, "tags": {**labels}},
        {"type": "GAUGE", "key": "request_log_queue_depth", "value": 0, "tags": {**labels}},
        {"type": "COUNTER", "key": "model_requests_total", "value": 2, "tags": {**labels}},
    ]
    answer = json_to_seldon_message({"meta": {"metrics": sent}})
    read_back = seldon_message_to_json(answer.meta)["metrics"]
    assert "value" not in read_back[0] and "type" not in read_back[0]  # protobuf's defaults
    exposed = []
    for report in (sent, read_back):
        metrics = SeldonMetrics()
        try:
            metrics.update(report, "predict")
            exposed.append(metrics.generate_metrics()[0])
        finally:
            metrics._manager.shutdown()
    assert "request_log_dropped_total" in exposed[1]
    assert exposed[1] == exposed[0]
