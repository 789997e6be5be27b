"""Swapping the estimator of model.py for another of the same task changes nothing else: the
training flow registers it, the model server's loader verifies and loads it, and it answers
and scores as the example estimator does. model.py is the one place that changes: its
`build_model` and, for trees, the one type skops leaves to review (`TRUSTED_TYPES`)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import {{ "GradientBoostingClassifier" if cookiecutter.task == "classification" else "GradientBoostingRegressor" }} as GradientBoosting
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import model, registry, training
from {{ cookiecutter.package_name }}.data import sample_rows
from {{ cookiecutter.package_name }}.scoring import LoadedModel, predictions
from {{ cookiecutter.package_name }}.settings import PROMOTION_METRICS, load_settings
from {{ cookiecutter.package_name }}.tasks import task
from {{ cookiecutter.package_name }}.validation import predict

pytestmark = pytest.mark.slow


def gradient_boosting(seed: int) -> Pipeline:
    return Pipeline([("estimator", GradientBoosting(n_estimators=30, random_state=seed))])


@pytest.fixture
def aliases_kept(trained):
    """The session's aliases as they were: other tests serve and check them."""
    import mlflow

    client = mlflow.MlflowClient(load_settings().mlflow_tracking_uri)
    name = load_settings().model_name
    before = dict(client.get_registered_model(name).aliases)
    yield
    for alias in set(client.get_registered_model(name).aliases) - set(before):
        client.delete_registered_model_alias(name, alias)
    for alias, version in before.items():
        client.set_registered_model_alias(name, alias, version)


def test_a_gradient_boosting_model_trains_registers_serves_and_scores(aliases_kept, monkeypatch):
    monkeypatch.setattr(training, "build_model", gradient_boosting)
    monkeypatch.setattr(model, "TRUSTED_TYPES", ("sklearn.tree._tree.Tree",))
    # The search space of tuning.py names the example estimator's parameters: a swap with
    # tuning on brings its own space; this one trains with the estimator's defaults.
    monkeypatch.setenv("TUNING_TRIALS", "0")
    result = training.training_flow(reason="estimator-swap")
    assert set(PROMOTION_METRICS) <= set(result.metrics)

    monkeypatch.setenv("MODEL_VERSION", result.version)
    served = registry.load_served_model(load_settings())  # verified as the servers load it
    assert isinstance(served.model[-1], GradientBoosting)
    rows = sample_rows(4).to_numpy()
    outputs = predict(served.model, rows)
    assert outputs.shape == (4, len(served.output_names))
    assert served.output_names == task.output_names(served.model)
    columns, scored = predictions(LoadedModel(served.model, served.version, served.output_names),
                                  rows, "run")  # fmt: skip
    np.testing.assert_array_equal(scored, outputs)
    assert columns["model_version"].to_pylist() == [result.version] * 4
