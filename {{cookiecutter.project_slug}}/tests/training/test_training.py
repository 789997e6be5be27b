"""The training flow against a real MLflow server: lineage, champion/challenger, faults."""

from __future__ import annotations

import time

import mlflow
import numpy as np
import pytest

from {{ cookiecutter.package_name }} import registry
from {{ cookiecutter.package_name }}.data import TARGET, DataValidationError, load_dataset
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.settings import (
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    DEFAULT_PROMOTION_METRIC,
    MODEL_NAME,
    PROMOTION_METRICS,
    STAGING_ALIAS,
)
from {{ cookiecutter.package_name }}.tasks import task
from {{ cookiecutter.package_name }}.training import Split, training_flow

pytestmark = pytest.mark.slow


@pytest.fixture
def client(mlflow_server):
    return mlflow.MlflowClient(mlflow_server)


def _aliases(client) -> dict[str, str]:
    return dict(client.get_registered_model(MODEL_NAME).aliases)


def _experiments(client) -> list[str]:
    return [e.experiment_id for e in client.search_experiments()]


def _versions(client) -> set[str]:
    return {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")}


@pytest.fixture
def restore_aliases(client, trained):
    """Tests that move aliases put them back, so the session's server keeps its model."""
    before = _aliases(client)
    yield
    for alias in set(_aliases(client)) - set(before):
        client.delete_registered_model_alias(MODEL_NAME, alias)
    for alias, version in before.items():
        client.set_registered_model_alias(MODEL_NAME, alias, version)


def test_a_version_is_traceable_to_data_code_parameters_and_evaluation(client, trained):
    version = client.get_model_version(MODEL_NAME, trained.version)
    run = client.get_run(trained.run_id)
    tags = run.data.tags
    assert tags["training_reason"] == "test"
    assert tags["template_version"] and tags["git_commit"]
    assert len(tags["data_digest"]) >= 8
    estimator = {f"model.{name}" for name in build_model(0)[-1].get_params()}
    assert {"seed", "test_size"} | estimator <= set(run.data.params)
    assert set(PROMOTION_METRICS) <= set(run.data.metrics)
    contexts = {
        tag.value
        for dataset_input in run.inputs.dataset_inputs
        for tag in dataset_input.tags
        if tag.key == "mlflow.data.context"
    }
    assert contexts == {"training", "evaluation"}
    plots = {a.path for a in client.list_artifacts(trained.run_id, "evaluation")}
    split = Split(train=load_dataset(), test=load_dataset())
    model = build_model(0).fit(split.features("train"), split.target("train"))
    figures = task.figures(model, split.features("test"), split.target("test"))
    assert plots == {f"evaluation/{name}" for name in figures}
    assert version.tags[f"metric.{DEFAULT_PROMOTION_METRIC}"]
    info = mlflow.models.get_model_info(f"models:/{MODEL_NAME}/{trained.version}")
    assert info.signature is not None and info.saved_input_example_info is not None


def test_the_first_version_becomes_champion(client, trained):
    first = min(_versions(client), key=int)
    tags = client.get_model_version(MODEL_NAME, first).tags
    assert tags["promotion.decision"] == "first-champion"
    assert _aliases(client)[CHAMPION_ALIAS] == first


def test_same_data_code_and_seed_give_the_same_metrics_and_no_promotion(
    client, trained, restore_aliases
):
    aliases_before = _aliases(client)
    again = training_flow(reason="reproducibility")
    assert again.metrics == trained.metrics
    assert again.decision == "rejected"  # a tie does not beat the champion
    tags = client.get_model_version(MODEL_NAME, again.version).tags
    assert tags["promotion.champion_score"] == tags["promotion.candidate_score"]
    assert _aliases(client) == aliases_before


def test_a_version_that_beats_the_champion_becomes_challenger_and_staging(
    client, trained, tmp_path, monkeypatch, restore_aliases
):
    # A champion trained on shuffled labels: any honest model must beat it.
    frame = load_dataset()
    frame[TARGET] = np.random.default_rng(0).permutation(frame[TARGET].to_numpy())
    frame.to_csv(tmp_path / "shuffled.csv", index=False)
    monkeypatch.setenv("DATA_URI", str(tmp_path / "shuffled.csv"))
    weak = training_flow(reason="weak")
    client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, weak.version)
    monkeypatch.delenv("DATA_URI")

    strong = training_flow(reason="drift")
    assert strong.decision == "promoted"
    aliases = _aliases(client)
    assert aliases[CHALLENGER_ALIAS] == aliases[STAGING_ALIAS] == strong.version
    assert aliases[CHAMPION_ALIAS] == weak.version  # champion moves only with production
    tags = client.get_model_version(MODEL_NAME, strong.version).tags
    assert tags["promotion.champion_version"] == weak.version
    gain = float(tags["promotion.candidate_score"]) - float(tags["promotion.champion_score"])
    assert gain > 0 if PROMOTION_METRICS[DEFAULT_PROMOTION_METRIC] else gain < 0


def test_invalid_data_is_rejected_before_any_run_or_version(client, trained, tmp_path, monkeypatch):
    frame = load_dataset()
    frame.loc[3, frame.columns[1]] = np.nan
    frame.to_csv(tmp_path / "broken.csv", index=False)
    monkeypatch.setenv("DATA_URI", str(tmp_path / "broken.csv"))
    versions, runs = _versions(client), len(client.search_runs(_experiments(client)))
    with pytest.raises(DataValidationError, match=f"column '{frame.columns[1]}'.*missing"):
        training_flow(reason="broken")
    assert _versions(client) == versions
    assert len(client.search_runs(_experiments(client))) == runs


def test_an_unreachable_registry_fails_fast_with_a_clear_message(monkeypatch, prefect_harness):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("MLFLOW_CONNECT_TIMEOUT", "2")
    started = time.monotonic()
    with pytest.raises(registry.RegistryError, match="unreachable"):
        training_flow(reason="outage")
    assert time.monotonic() - started < 30


def test_a_failure_after_registration_leaves_no_half_registered_version(
    client, trained, monkeypatch, restore_aliases
):
    versions = _versions(client)

    def broken(*args, **kwargs):
        raise RuntimeError("registry went away while setting aliases")

    monkeypatch.setattr(registry, "apply_decision", broken)
    with pytest.raises(RuntimeError, match="went away"):
        training_flow(reason="fault")
    assert _versions(client) == versions


def test_the_mlflow_server_refuses_a_call_without_its_login(mlflow_server):
    import os

    from {{ cookiecutter.package_name }}.jsonhttp import basic_authorization

    from ..probes import get

    def status(login: str | None) -> int:
        url = f"{mlflow_server}/api/2.0/mlflow/experiments/search?max_results=1"
        return get(url, headers=basic_authorization(login) if login else None)[0]

    user = os.environ["MLFLOW_TRACKING_USERNAME"]
    assert status(None) == 401
    assert status(f"{user}:not-the-password") == 401
    assert status(f"{user}:{os.environ['MLFLOW_TRACKING_PASSWORD']}") == 200
