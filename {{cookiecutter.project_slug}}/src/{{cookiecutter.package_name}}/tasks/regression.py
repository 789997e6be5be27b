"""Regression: the model predicts one number.

Metrics: RMSE, MAE (lower is better) and R2; plots: residuals against predictions, and
predictions against actual values. The split is a plain random split; the serving metrics
count predictions in cumulative buckets (`model_predictions_total{le}`, a Prometheus
histogram's shape: `histogram_quantile` reads it) whose bounds are quantiles of the training
target, saved with the model; batch scoring writes the prediction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import settings

NAME = "regression"
OUTPUT = "prediction"  # one column
PREDICTION_LABEL = settings.PREDICTION_LABEL  # `le`: cumulative buckets
# The MLmodel metadata key of the bucket bounds, and the training target's quantiles they are.
BUCKETS_KEY = "prediction_buckets"
BUCKET_QUANTILES = np.linspace(0.05, 0.95, 10)


def check_target(target: pd.Series) -> None:
    from ..data import DataValidationError

    if target.dtype.kind not in "fiu":
        raise DataValidationError(
            f"column {target.name!r} has dtype {target.dtype}, expected a number"
        )
    bad = target.isna() | ~np.isfinite(target.astype(float))
    if bad.any():
        raise DataValidationError(
            f"column {target.name!r} has {int(bad.sum())} missing or infinite value(s)"
        )
    if target.nunique() < 2:
        raise DataValidationError(f"column {target.name!r} has a single value: nothing to learn")


def stratify(target: pd.Series) -> pd.Series | None:
    return None


def output_names(model: Any) -> list[str]:
    return [OUTPUT]


def output_columns(names: Sequence[str]) -> list[str]:
    return [OUTPUT]


def outputs(model: Any, matrix: np.ndarray) -> np.ndarray:
    predictions = np.asarray(model.predict(matrix), dtype=float).reshape(-1, 1)
    if not np.isfinite(predictions).all():
        raise ValueError("the model returned predictions that are NaN or infinite")
    return predictions


def score(model: Any, features: np.ndarray, target: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    predicted = model.predict(features)
    return {
        "rmse": float(root_mean_squared_error(target, predicted)),
        "mae": float(mean_absolute_error(target, predicted)),
        "r2": float(r2_score(target, predicted)),
    }


def figures(model: Any, features: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    """Residuals against predictions, and predictions against actual values."""
    import matplotlib.pyplot as plt

    predicted = model.predict(features)
    residuals_figure, axes = plt.subplots(figsize=(6, 5))
    axes.scatter(predicted, np.asarray(target) - predicted, s=12, alpha=0.7)
    axes.axhline(0.0, color="grey", linewidth=1)
    axes.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals")
    actual_figure, axes = plt.subplots(figsize=(5, 5))
    axes.scatter(target, predicted, s=12, alpha=0.7)
    low, high = float(np.min(target)), float(np.max(target))
    axes.plot([low, high], [low, high], color="grey", linewidth=1)
    axes.set(xlabel="actual", ylabel="predicted", title="Predicted against actual")
    return {"residuals.png": residuals_figure, "predicted_vs_actual.png": actual_figure}


def model_metadata(model: Any, target: np.ndarray) -> dict[str, Any]:
    """The serving histogram's bucket bounds: quantiles of the training target, 3 significant
    digits (so they read well on a dashboard), each once."""
    bounds = np.quantile(np.asarray(target, dtype=float), BUCKET_QUANTILES)
    return {BUCKETS_KEY: sorted({float(f"{b:.3g}") for b in bounds})}


def bucket_bounds(metadata: Mapping[str, Any]) -> list[float]:
    """The saved bounds, or none (a model saved without them: only the +Inf bucket)."""
    bounds = metadata.get(BUCKETS_KEY) or []
    return [float(b) for b in bounds if isinstance(b, int | float) and np.isfinite(b)]


def le_label(bound: float) -> str:
    """A bound as Prometheus writes a histogram's `le`."""
    return "+Inf" if bound == np.inf else repr(float(bound))


def prediction_label_values(names: Sequence[str], metadata: Mapping[str, Any]) -> list[str]:
    return [le_label(b) for b in bucket_bounds(metadata)] + ["+Inf"]


def prediction_counts(
    outputs: np.ndarray, names: Sequence[str], metadata: Mapping[str, Any]
) -> dict[str, int]:
    """Predictions at or below each bucket bound (cumulative, +Inf counts them all)."""
    values = np.sort(outputs[:, 0])
    bounds = bucket_bounds(metadata)
    at_or_below = np.searchsorted(values, bounds, side="right")
    counts = {le_label(b): int(n) for b, n in zip(bounds, at_or_below, strict=True)}
    return counts | {"+Inf": len(values)}


DISTRIBUTION = "predicted values"
DISTANCE = "largest gap between the cumulative distributions"


def distribution(counts: Mapping[str, float]) -> dict[str, float]:
    """The share of predictions at or below each bucket bound (`le` label), +Inf left out."""
    total = counts.get("+Inf", 0.0)
    if not total:
        return {}
    bounds = sorted((float(k), v) for k, v in counts.items() if k != "+Inf")
    return {le_label(bound): min(value / total, 1.0) for bound, value in bounds}


def _cumulative(shares: Mapping[str, float], at: np.ndarray) -> np.ndarray:
    """A distribution's cumulative share at each of `at`: linear between its bounds (as
    histogram_quantile assumes), and outside them the share at the nearest bound (nothing is
    known of what lies beyond)."""
    bounds = np.array([float(k) for k in shares])
    order = np.argsort(bounds)
    return np.interp(at, bounds[order], np.array(list(shares.values()))[order])


def distribution_distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """The largest difference of the cumulative shares over both sets of bounds (the
    Kolmogorov-Smirnov distance, read at the buckets' bounds)."""
    if not a or not b:
        return 0.0 if not a and not b else 1.0
    at = np.array(sorted({float(k) for k in a} | {float(k) for k in b}))
    return float(np.max(np.abs(_cumulative(a, at) - _cumulative(b, at))))


def distribution_rows(a: Mapping[str, float],
                      b: Mapping[str, float]) -> list[tuple[str, float, float]]:  # fmt: skip
    bounds = sorted({float(k) for k in a} | {float(k) for k in b})
    rows = []
    for bound in bounds:
        at = np.array([bound])
        rows.append((f"predicted <= {bound:g}", *(float(_cumulative(d, at)[0]) if d else 0.0
                                                    for d in (a, b))))  # fmt: skip
    return rows


def scoring_types(names: Sequence[str]) -> dict[str, Any]:
    import pyarrow as pa

    return {"prediction": pa.float64()}


def scoring_columns(outputs: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    import pyarrow as pa

    return {"prediction": pa.array(np.ascontiguousarray(outputs[:, 0]))}


QUALITY_METRICS = {"rmse": False, "mae": False}


def predicted(outputs: Sequence[float], names: Sequence[str]) -> float:
    return float(outputs[0])


def label(value: Any, names: Sequence[str]) -> float:
    # bool is an int in Python, not a number in JSON; an int of 400 digits has no float
    if type(value) not in (int, float):
        raise ValueError(f"a label must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"a label must be a finite number, not {value!r:.40}")
    return number


def quality(predicted: Sequence[float], actual: Sequence[float]) -> dict[str, float]:
    errors = np.asarray(predicted, dtype=float) - np.asarray(actual, dtype=float)
    return {"rmse": float(np.sqrt(np.mean(errors**2))), "mae": float(np.mean(np.abs(errors)))}
