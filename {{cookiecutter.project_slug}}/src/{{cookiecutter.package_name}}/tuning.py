"""Hyperparameter search: each trial is a nested MLflow run under the training run."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
from sklearn.model_selection import ParameterSampler, StratifiedKFold, cross_val_score

from .model import build_model

# Log-uniform grid for the inverse regularisation strength of the logistic regression.
SEARCH_SPACE: dict[str, list[Any]] = {
    "classifier__C": list(np.logspace(-3, 3, 25)),
    "classifier__class_weight": [None, "balanced"],
}
SCORING = "f1_macro"


def search(features, labels, *, trials: int, seed: int) -> dict[str, Any]:
    """Return the best parameters found in `trials` cross-validated candidates."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    best_score, best_params = -np.inf, {}
    # Children must name the parent's experiment explicitly, or they land in the default one.
    experiment_id = mlflow.active_run().info.experiment_id
    for trial, params in enumerate(ParameterSampler(SEARCH_SPACE, trials, random_state=seed)):
        model = build_model(seed).set_params(**params)
        score = float(cross_val_score(model, features, labels, cv=folds, scoring=SCORING).mean())
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"trial-{trial:03d}", nested=True
        ):
            mlflow.log_params(params)
            mlflow.log_metric(f"cv_{SCORING}", score)
        if score > best_score:
            best_score, best_params = score, params
    mlflow.log_metric(f"best_cv_{SCORING}", best_score)
    return best_params
