"""Held-out evaluation: the metrics that decide promotion and the plots logged with them."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")  # no display in CI or in a pod

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    RocCurveDisplay,
    accuracy_score,
    f1_score,
    roc_auc_score,
)


@dataclass
class Evaluation:
    metrics: dict[str, float]
    figures: dict[str, Figure] = field(default_factory=dict)


def score(model, features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The metrics of `model` on held-out data (also used to re-score the champion)."""
    predicted = model.predict(features)
    metrics = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1_macro": float(f1_score(labels, predicted, average="macro")),
    }
    probabilities = model.predict_proba(features)
    if len(model.classes_) == 2:
        metrics["roc_auc"] = float(roc_auc_score(labels, probabilities[:, 1]))
    else:
        metrics["roc_auc"] = float(
            roc_auc_score(labels, probabilities, multi_class="ovr", labels=model.classes_)
        )
    return metrics


def evaluate(model, features: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Metrics plus a confusion matrix and one-vs-rest ROC curves."""
    evaluation = Evaluation(metrics=score(model, features, labels))
    matrix, axes = plt.subplots(figsize=(5, 5))
    ConfusionMatrixDisplay.from_predictions(labels, model.predict(features), ax=axes)
    evaluation.figures["confusion_matrix.png"] = matrix

    roc, axes = plt.subplots(figsize=(6, 5))
    probabilities = model.predict_proba(features)
    for index, label in enumerate(model.classes_):
        RocCurveDisplay.from_predictions(
            np.asarray(labels) == label, probabilities[:, index], name=str(label), ax=axes
        )
    axes.set_title("ROC, one class vs the rest")
    evaluation.figures["roc_curve.png"] = roc
    return evaluation
