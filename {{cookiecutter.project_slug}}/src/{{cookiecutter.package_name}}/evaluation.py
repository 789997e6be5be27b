"""Held-out evaluation: the metrics that decide promotion and the plots logged with them
(the task's: tasks/)."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")  # no display in CI or in a pod

import numpy as np
from matplotlib.figure import Figure

from .tasks import task


@dataclass
class Evaluation:
    metrics: dict[str, float]
    figures: dict[str, Figure] = field(default_factory=dict)


def score(model, features: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """The metrics of `model` on held-out data (also used to re-score the champion)."""
    return task.score(model, features, target)


def evaluate(model, features: np.ndarray, target: np.ndarray) -> Evaluation:
    """Metrics plus the task's plots."""
    return Evaluation(
        metrics=score(model, features, target), figures=task.figures(model, features, target)
    )
