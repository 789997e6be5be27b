"""The estimator itself: change the model here, everything else follows."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def build_model(seed: int) -> Pipeline:
    """An unfitted pipeline; its parameters are what tuning searches and MLflow logs."""
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            ("classifier", LogisticRegression(max_iter=1000, random_state=seed)),
        ]
    )
