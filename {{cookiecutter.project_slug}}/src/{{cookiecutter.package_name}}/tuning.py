"""Hyperparameter search: each trial is a nested MLflow run under the training run."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
{%- if cookiecutter.task == "classification" %}
from sklearn.model_selection import ParameterSampler, StratifiedKFold, cross_val_score
{%- else %}
from sklearn.model_selection import KFold, ParameterSampler, cross_val_score
{%- endif %}

from .model import build_model

{% if cookiecutter.task == "classification" -%}
# Log-uniform grid for the inverse regularisation strength of the logistic model.
SEARCH_SPACE: dict[str, list[Any]] = {
    "estimator__C": list(np.logspace(-3, 3, 25)),
    "estimator__class_weight": [None, "balanced"],
}
# scikit-learn's scorer name: higher is better.
SCORING = "f1_macro"
{%- else -%}
# Log-uniform grid for the ridge penalty.
SEARCH_SPACE: dict[str, list[Any]] = {"estimator__alpha": list(np.logspace(-3, 3, 25))}
# scikit-learn's scorer name: higher is better (the negated RMSE).
SCORING = "neg_root_mean_squared_error"
{%- endif %}


def search(features, target, *, trials: int, seed: int) -> dict[str, Any]:
    """Return the best parameters found in `trials` cross-validated candidates."""
{%- if cookiecutter.task == "classification" %}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
{%- else %}
    folds = KFold(n_splits=5, shuffle=True, random_state=seed)
{%- endif %}
    best_score, best_params = -np.inf, {}
    # Children must name the parent's experiment explicitly, or they land in the default one.
    experiment_id = mlflow.active_run().info.experiment_id
    for trial, params in enumerate(ParameterSampler(SEARCH_SPACE, trials, random_state=seed)):
        model = build_model(seed).set_params(**params)
        score = float(cross_val_score(model, features, target, cv=folds, scoring=SCORING).mean())
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"trial-{trial:03d}", nested=True
        ):
            mlflow.log_params(params)
            mlflow.log_metric(f"cv_{SCORING}", score)
        if score > best_score:
            best_score, best_params = score, params
    mlflow.log_metric(f"best_cv_{SCORING}", best_score)
    return best_params
