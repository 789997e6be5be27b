"""Labelled traffic for the quality tests: dataset rows, what a fitted model answers for them
and their true targets, as request-log and label messages."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, datetime

import numpy as np

from {{ cookiecutter.package_name }}.data import FEATURES, TARGET, load_dataset
from {{ cookiecutter.package_name }}.settings import MODEL_NAME
from {{ cookiecutter.package_name }}.tasks import task

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


@functools.cache
def fitted():
    from {{ cookiecutter.package_name }}.model import build_model

    frame = load_dataset()
    return build_model(0).fit(frame[list(FEATURES)].to_numpy(), frame[TARGET].to_numpy())


def output_names() -> list[str]:
    return task.output_names(fitted())


def rows(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, list]:
    """`count` dataset rows: features, the model's outputs, and the true labels (as JSON
    gives them: class names or numbers)."""
    frame = load_dataset().sample(n=count, replace=True, random_state=seed)
    features = frame[list(FEATURES)].to_numpy()
    labels = frame[TARGET].tolist()
    return features, task.outputs(fitted(), features), [_json(v) for v in labels]


def _json(value):
    return value.item() if hasattr(value, "item") else value


def prediction_message(request_id: str, at: float, outputs: list[list[float]],
                       version: str = "1", predictor: str = "default") -> bytes:  # fmt: skip
    return json.dumps({
        "request_id": request_id,
        "timestamp": datetime.fromtimestamp(at, UTC).isoformat(),
        "model_name": MODEL_NAME,
        "model_version": version,
        "predictor": predictor,
        "feature_names": list(FEATURES),
        "rows": [[0.0] * len(FEATURES) for _ in outputs],
        "output_names": output_names(),
        "predictions": outputs,
    }).encode()  # fmt: skip


def label_message(request_id: str, labels: list, at: float | None = None) -> bytes:
    body: dict = {"request_id": request_id, "labels": labels, "source": "test"}
    if at is not None:
        body["timestamp"] = datetime.fromtimestamp(at, UTC).isoformat()
    return json.dumps(body).encode()


def new_id() -> str:
    return uuid.uuid4().hex


def direct(predicted: list, actual: list) -> dict[str, float]:
    """scikit-learn's figures of the same rows (what training's evaluation reports)."""
    from sklearn import metrics

    functions = {
        "accuracy": metrics.accuracy_score,
        "f1_macro": lambda a, p: metrics.f1_score(a, p, average="macro"),
        "rmse": metrics.root_mean_squared_error,
        "mae": metrics.mean_absolute_error,
    }
    return {name: float(functions[name](actual, predicted)) for name in task.QUALITY_METRICS}
