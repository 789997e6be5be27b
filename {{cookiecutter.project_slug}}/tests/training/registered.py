"""What a training run left in MLflow, checked alike wherever the flow ran."""

from __future__ import annotations

import mlflow

from {{ cookiecutter.package_name }}.settings import MODEL_NAME


def assert_one_version_registered_for(tracking_uri: str, reason: str) -> str:
    """Exactly one finished run tagged with `reason`, and its version READY; the version."""
    client = mlflow.MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, f"tags.training_reason = '{reason}'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED", runs
    version = runs[0].data.tags["model_version"]
    assert client.get_model_version(MODEL_NAME, version).status == "READY"
    return version
