"""The batch scoring flow against a real MLflow server, Prefect and a Kafka-protocol broker,
and its command line against a real Prefect server."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import uuid
from pathlib import Path

import jsonschema
import mlflow
import numpy as np
import pyarrow.parquet
import pytest

from {{ cookiecutter.package_name }}.data import FEATURES, DataValidationError, load_dataset
from {{ cookiecutter.package_name }}.devstack.processes import executable
from {{ cookiecutter.package_name }}.request_log import message_schema
from {{ cookiecutter.package_name }}.scoring import BATCH_PREDICTOR, MESSAGE_ROWS, scoring_flow
from {{ cookiecutter.package_name }}.settings import MODEL_NAME

pytestmark = pytest.mark.slow
NAMES = list(FEATURES)
ROWS = 100_000


def table(path: Path, rows: int, drop: str | None = None) -> str:
    frame = load_dataset().sample(n=rows, replace=True, random_state=5)[NAMES]
    frame = frame.assign(order_id=np.arange(rows))
    frame.drop(columns=[drop] if drop else []).to_parquet(path, index=False)
    return str(path)


def test_a_table_of_100k_rows_is_scored_logged_and_fed_to_the_request_topic(
    tmp_path, trained, kafka, monkeypatch
):
    topic = f"{MODEL_NAME}-scoring-test-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic)
    monkeypatch.setenv("REQUEST_TOPIC", topic)
    source = table(tmp_path / "orders.parquet", ROWS)

    result = scoring_flow(input_uri=source, output_uri=str(tmp_path / "scores"),
                          chunk_rows=20_000)  # fmt: skip

    scored = pyarrow.parquet.read_table(result.output_uri).to_pandas()
    assert result.rows == len(scored) == ROWS
    assert result.model_version == trained.version  # version 1: the champion
    assert set(scored["model_version"].astype(str)) == {trained.version}
    assert set(scored["scoring_run_id"].astype(str)) == {result.run_id}
    assert scored["order_id"].tolist() == list(range(ROWS))
    assert Path(result.output_uri).parent == tmp_path / "scores"
    assert sorted(p.name for p in (tmp_path / "scores").iterdir()) == [Path(result.output_uri).name]

    run = mlflow.MlflowClient().get_run(result.run_id)
    assert run.info.status == "FINISHED"
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    assert run.data.tags["input_digest"] == result.input_digest == f"sha256:{digest}"
    assert run.data.tags["output_uri"] == result.output_uri
    assert run.data.params["model_version"] == trained.version
    assert run.data.metrics["rows"] == ROWS

    messages = [json.loads(m.value) for m in kafka.read(topic, timeout=5)]
    assert result.messages == len(messages) == math.ceil(ROWS / MESSAGE_ROWS)
    schema = message_schema()
    for message in messages[:5]:
        jsonschema.validate(message, schema)
    assert {m["predictor"] for m in messages} == {BATCH_PREDICTOR}
    assert {m["model_version"] for m in messages} == {trained.version}
    assert sum(len(m["rows"]) for m in messages) == ROWS
    first = next(m for m in messages if m["request_id"] == f"{result.run_id}-0-0")
    np.testing.assert_allclose(first["rows"][0], scored[NAMES].iloc[0].to_numpy())


def test_an_input_without_a_feature_is_refused_before_any_output_or_run(tmp_path, trained):
    source = table(tmp_path / "orders.parquet", 1_000, drop=NAMES[0])
    experiment = mlflow.get_experiment_by_name(f"{MODEL_NAME}-scoring")
    runs_before = (len(mlflow.search_runs([experiment.experiment_id]))
                   if experiment else 0)  # fmt: skip
    with pytest.raises(DataValidationError, match=f"missing column.*{NAMES[0]}"):
        scoring_flow(input_uri=source, output_uri=str(tmp_path / "out.parquet"))
    assert not (tmp_path / "out.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.parquet"]
    experiment = mlflow.get_experiment_by_name(f"{MODEL_NAME}-scoring")
    assert (len(mlflow.search_runs([experiment.experiment_id])) if experiment else 0) == runs_before


def test_the_score_command_runs_the_flow_on_a_prefect_server_and_names_bad_input(
    tmp_path, prefect_api, trained
):
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    cli = executable("{{ cookiecutter.project_slug }}")
    good = table(tmp_path / "good.parquet", 2_000)
    out = tmp_path / "out.parquet"
    done = subprocess.run([cli, "score", "--input", good, "--output", str(out), "--version",
                           trained.version], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] == 2_000 and result["model_version"] == trained.version
    assert pyarrow.parquet.read_metadata(out).num_rows == 2_000

    bad = table(tmp_path / "bad.parquet", 10, drop=NAMES[3])
    refused = subprocess.run([cli, "score", "--input", bad, "--output",
                              str(tmp_path / "never.parquet")], env=env, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert refused.returncode == 1
    assert f"missing column(s): {NAMES[3]}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "never.parquet").exists()

    again = subprocess.run([cli, "score", "--input", good, "--output", str(out)], env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 1 and "exists" in again.stderr
    assert pyarrow.parquet.read_metadata(out).num_rows == 2_000
