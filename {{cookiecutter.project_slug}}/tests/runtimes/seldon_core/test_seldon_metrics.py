"""The speed-ups of Seldon's custom-metrics channel give exactly what Seldon's own code gives."""

from __future__ import annotations

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
    monkeypatch.setattr(SeldonMetrics, "_update_hist", SeldonMetrics.__dict__["_update_hist"])
    monkeypatch.setattr(ForkingPickler, "_extra_reducers", dict(ForkingPickler._extra_reducers))


def report(values: list[float]) -> list[dict]:
    labels = {"model": "m", "predictor": "default"}
    return [
        *({"type": "TIMER", "key": "model_predict_seconds", "value": v * 1000, "tags": labels}
          for v in values),
        {"type": "COUNTER", "key": "model_requests_total", "value": len(values), "tags": labels},
        {"type": "GAUGE", "key": "model_served_version", "value": 3, "tags": labels},
    ]  # fmt: skip


def test_seldon_exposes_the_same_metrics_with_and_without_the_speed_ups(restored):
    if SeldonMetrics.__dict__["_update_hist"].__func__ is seldon_metrics.add_observation:
        pytest.skip("sped up earlier in this process: Seldon's own code is gone")
    batches = [VALUES[i : i + 250] for i in range(0, len(VALUES), 250)]
    exposed = []
    for sped_up in (False, True):
        if sped_up:
            seldon_metrics.speed_up()
        metrics = SeldonMetrics()
        try:
            for batch in batches:
                metrics.update(report(batch), "predict")
            exposed.append(metrics.generate_metrics()[0])
        finally:
            metrics._manager.shutdown()
    assert "model_predict_seconds_bucket" in exposed[0]
    assert exposed[1] == exposed[0]
