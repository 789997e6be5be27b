"""Classification: the model predicts a class and answers the probability of each class.

Metrics: accuracy, macro F1, one-vs-rest ROC AUC; plots: confusion matrix, ROC curves. The
split keeps the class shares; the serving metrics count predictions by their most probable
class; batch scoring writes the class and every class's probability.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import settings

NAME = "classification"
OUTPUT = "probabilities"  # one column per class, in the model's class order
PREDICTION_LABEL = settings.PREDICTION_LABEL  # the predicted class
# Batch scoring's column of each class's probability: <PROBABILITY_PREFIX><class>.
PROBABILITY_PREFIX = "probability_"


def check_target(target: pd.Series) -> None:
    from ..data import DataValidationError

    if target.isna().any():
        raise DataValidationError(
            f"column {target.name!r} has {int(target.isna().sum())} missing label(s)"
        )
    if target.nunique() < 2:
        raise DataValidationError(f"column {target.name!r} needs at least two classes")


def stratify(target: pd.Series) -> pd.Series | None:
    return target


def output_names(model: Any) -> list[str]:
    return [str(c) for c in getattr(model, "classes_", [])]


def output_columns(names: Sequence[str]) -> list[str]:
    return [f"{PROBABILITY_PREFIX}{name}" for name in names]


def outputs(model: Any, matrix: np.ndarray) -> np.ndarray:
    probabilities = model.predict_proba(matrix)
    if not np.isfinite(probabilities).all():
        raise ValueError("the model returned probabilities that are NaN or infinite")
    return probabilities


def score(model: Any, features: np.ndarray, target: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    predicted = model.predict(features)
    probabilities = model.predict_proba(features)
    if len(model.classes_) == 2:
        auc = roc_auc_score(target, probabilities[:, 1])
    else:
        auc = roc_auc_score(target, probabilities, multi_class="ovr", labels=model.classes_)
    return {
        "accuracy": float(accuracy_score(target, predicted)),
        "f1_macro": float(f1_score(target, predicted, average="macro")),
        "roc_auc": float(auc),
    }


def figures(model: Any, features: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    """A confusion matrix and one-vs-rest ROC curves."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    matrix, axes = plt.subplots(figsize=(5, 5))
    ConfusionMatrixDisplay.from_predictions(target, model.predict(features), ax=axes)
    roc, axes = plt.subplots(figsize=(6, 5))
    probabilities = model.predict_proba(features)
    for index, label in enumerate(model.classes_):
        RocCurveDisplay.from_predictions(
            np.asarray(target) == label, probabilities[:, index], name=str(label), ax=axes
        )
    axes.set_title("ROC, one class vs the rest")
    return {"confusion_matrix.png": matrix, "roc_curve.png": roc}


def model_metadata(model: Any, target: np.ndarray) -> dict[str, Any]:
    return {}


def prediction_label_values(names: Sequence[str], metadata: Mapping[str, Any]) -> list[str]:
    return list(names)


def prediction_counts(
    outputs: np.ndarray, names: Sequence[str], metadata: Mapping[str, Any]
) -> dict[str, int]:
    """Predictions by most probable class."""
    winners = outputs.argmax(axis=1)
    if len(winners) == 1:
        return {names[winners[0]]: 1}
    return {names[i]: int(n) for i, n in enumerate(np.bincount(winners)) if n}


DISTRIBUTION = "predicted classes"
DISTANCE = "total variation"


def distribution(counts: Mapping[str, float]) -> dict[str, float]:
    """The share of predictions of each class."""
    total = sum(counts.values())
    return {k: v / total for k, v in sorted(counts.items())} if total else {}


def distribution_distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def distribution_rows(a: Mapping[str, float],
                      b: Mapping[str, float]) -> list[tuple[str, float, float]]:  # fmt: skip
    return [(f"predicted `{k}`", a.get(k, 0.0), b.get(k, 0.0)) for k in sorted(set(a) | set(b))]


def scoring_types(names: Sequence[str]) -> dict[str, Any]:
    import pyarrow as pa

    types = {"prediction": pa.dictionary(pa.int32(), pa.string())}
    return types | dict.fromkeys(output_columns(names), pa.float64())


def scoring_columns(outputs: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """The most probable class (dictionary-encoded: a few distinct values) and each class's
    probability."""
    import pyarrow as pa

    best = pa.array(outputs.argmax(axis=1).astype(np.int32))
    columns = {"prediction": pa.DictionaryArray.from_arrays(best, pa.array(list(names)))}
    by_class = np.ascontiguousarray(outputs.T)  # one copy, then a view per column
    for index, column in enumerate(output_columns(names)):
        columns[column] = pa.array(by_class[index])
    return columns


QUALITY_METRICS = {"accuracy": True, "f1_macro": True}


def predicted(outputs: Sequence[float], names: Sequence[str]) -> str:
    """The most probable class (the first of a tie, as argmax and `predict` choose)."""
    return names[max(range(len(outputs)), key=outputs.__getitem__)]


def label(value: Any, names: Sequence[str]) -> str:
    """A class name; a whole number is read as its decimal name (classes 0/1 arrive as
    numbers, and as floats in a tensor)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"a label must be a class name, not {type(value).__name__}")
    if value not in names:
        raise ValueError(f"{value[:40]!r} is not a class of the model ({', '.join(names)})")
    return names[names.index(value)]  # the model's own string: one copy in memory


def quality(predicted: Sequence[str], actual: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro F1 over the classes present in either (scikit-learn's choice)."""
    pairs = list(zip(predicted, actual, strict=True))
    hits = sum(p == a for p, a in pairs)
    f1 = []
    for name in sorted(set(predicted) | set(actual)):
        true_positive = sum(p == a == name for p, a in pairs)
        claimed = sum(p == name for p in predicted) + sum(a == name for a in actual)
        f1.append(2 * true_positive / claimed if claimed else 0.0)
    return {"accuracy": hits / len(pairs), "f1_macro": sum(f1) / len(f1)}
