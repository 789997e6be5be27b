"""Hyperparameter search: every trial is a nested MLflow run; the best candidate is kept."""

from __future__ import annotations

import mlflow
import pytest

from {{ cookiecutter.package_name }} import registry
from {{ cookiecutter.package_name }}.data import FEATURES, TARGET, load_dataset
from {{ cookiecutter.package_name }}.settings import load_settings
from {{ cookiecutter.package_name }}.tuning import SCORING, SEARCH_SPACE, search

pytestmark = pytest.mark.slow


def test_each_trial_is_a_nested_run(mlflow_server):
    settings = load_settings()
    client = registry.connect(settings)
    experiment_id = registry.ensure_experiment(client, settings)
    frame = load_dataset()
    with mlflow.start_run(experiment_id=experiment_id, run_name="tuning-test") as parent:
        best = search(frame[list(FEATURES)].to_numpy(), frame[TARGET], trials=3, seed=1)
    children = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 3
    assert set(best) == set(SEARCH_SPACE)
    assert all(best[name] in SEARCH_SPACE[name] for name in best)
    assert f"best_cv_{SCORING}" in client.get_run(parent.info.run_id).data.metrics
