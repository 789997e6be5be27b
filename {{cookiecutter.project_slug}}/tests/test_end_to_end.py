"""Train with the real flow, then predict through the real model server over HTTP."""

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
from {{ cookiecutter.package_name }}.runtimes import protocol
from {{ cookiecutter.package_name }}.settings import (
    MODEL_NAME,
    STAGING_ALIAS,
    load_settings,
)

from .probes import post

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "{{ cookiecutter.package_name }}"]


def test_training_registers_a_version_with_the_staging_alias(trained, mlflow_server):
    client = mlflow.MlflowClient(load_settings().mlflow_tracking_uri)
    version = client.get_model_version_by_alias(MODEL_NAME, STAGING_ALIAS)
    assert str(version.version) == trained.version
{%- if cookiecutter.task == "classification" %}
    assert trained.metrics["accuracy"] > 0.8
{%- else %}
    assert trained.metrics["r2"] > 0.3  # far better than predicting the mean (0)
{%- endif %}


def test_the_server_answers_over_http(model_server, trained):
    rows = sample_rows(3)
    status, body = post(
        f"{model_server.http}{protocol.PREDICT_PATH}",
        protocol.request_body(rows.to_numpy().tolist(), list(rows.columns)),
    )
    assert status == 200, body
    outputs = protocol.outputs(body)
    assert len(outputs) == 3
    assert protocol.served_version(body) == trained.version
    names = protocol.output_names(body)  # the model's output names, not t:0 placeholders
    assert all(len(row) == len(names) for row in outputs) and not names[0].startswith("t:")


def test_bad_input_over_http_is_a_400_naming_the_problem(model_server):
    status, body = post(
        f"{model_server.http}{protocol.PREDICT_PATH}", protocol.request_body([[1.0, 2.0]])
    )
    assert status == 400
    assert f"each row must have {len(FEATURES)} values" in protocol.error_message(body)


def test_predict_command_prints_the_answer(model_server):
    url = f"{model_server.http}{protocol.PREDICT_PATH}"
    result = subprocess.run(
        [*CLI, "predict", "--url", url], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert protocol.outputs(json.loads(result.stdout)["response"])


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
