"""Train with the real flow, then predict through the wrapper and the real Seldon server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import pytest

from {{ cookiecutter.package_name }}.data import (
    FEATURES,
    sample_rows,
)
from {{ cookiecutter.package_name }}.settings import (
    MODEL_NAME,
    STAGING_ALIAS,
    load_settings,
)

from .probes import post, scrape

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "{{ cookiecutter.package_name }}"]


def test_training_registers_a_version_with_the_staging_alias(trained, mlflow_server):
    client = mlflow.MlflowClient(load_settings().mlflow_tracking_uri)
    version = client.get_model_version_by_alias(MODEL_NAME, STAGING_ALIAS)
    assert str(version.version) == trained.version
    assert trained.metrics["accuracy"] > 0.8


def test_the_wrapper_predicts_probabilities_for_each_class(trained):
    from {{ cookiecutter.package_name }}.serving import SeldonModel

    model = SeldonModel()
    model.load()
    rows = sample_rows(5)
    probabilities = model.predict(rows.to_numpy(), list(rows.columns))
    assert probabilities.shape == (5, len(model.class_names()))
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-9
    assert model.tags()["model_version"] == trained.version


def test_the_microservice_answers_over_http(model_server, trained):
    rows = sample_rows(3)
    status, body = post(
        f"{model_server.http}/api/v1.0/predictions",
        {"data": {"names": list(rows.columns), "ndarray": rows.to_numpy().tolist()}},
    )
    assert status == 200, body
    assert len(body["data"]["ndarray"]) == 3
    assert body["meta"]["tags"]["model_version"] == trained.version
    assert body["data"]["names"]  # class names, not t:0 placeholders
    assert not body["data"]["names"][0].startswith("t:")


def test_health_and_metadata_describe_the_served_model(model_server, trained):
    health = json.loads(scrape(f"{model_server.http}/health/status"))
    assert '"ready"' in json.dumps(health) and f'"{trained.version}"' in json.dumps(health)
    metadata = json.loads(scrape(f"{model_server.http}/api/v1.0/metadata"))
    assert metadata["name"] == MODEL_NAME
    assert metadata["custom"]["feature_names"] == ",".join(FEATURES)


def test_bad_input_over_http_is_a_400_naming_the_problem(model_server):
    status, body = post(
        f"{model_server.http}/api/v1.0/predictions", {"data": {"ndarray": [[1.0, "x"]]}}
    )
    assert status == 400
    assert f"each row must have {len(FEATURES)} values" in body["status"]["info"]


def test_predict_command_prints_the_answer(model_server):
    url = f"{model_server.http}/api/v1.0/predictions"
    result = subprocess.run(
        [*CLI, "predict", "--url", url], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["response"]["data"]["ndarray"]


def test_predict_command_explains_an_unreachable_server():
    result = subprocess.run(
        [*CLI, "predict", "--url", "http://127.0.0.1:9/x", "--timeout", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot reach the model server" in result.stderr


def test_train_explains_an_unreachable_prefect_api():
    result = subprocess.run(
        [*CLI, "train", "--prefect-wait", "1"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"},
    )  # fmt: skip
    assert result.returncode == 1
    assert "the Prefect API at http://127.0.0.1:9/api did not answer" in result.stderr
