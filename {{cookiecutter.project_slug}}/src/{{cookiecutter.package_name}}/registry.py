"""The MLflow model registry: where models are recorded, and how the served one is found.

Both the server and the drift service call `resolve_served_version`, so they can never
disagree on which version is in service.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from .settings import Settings

log = logging.getLogger(__name__)


class RegistryError(RuntimeError):
    """The registry cannot give what was asked for; the message says what to do."""


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured server, or at the local SQLite registry."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    if settings.uses_local_registry:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    return MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)


def ensure_experiment(client: MlflowClient, settings: Settings) -> str:
    """Return the experiment id, creating it (with a local artifact root if local)."""
    experiment = client.get_experiment_by_name(settings.experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    location = settings.local_artifact_root.as_uri() if settings.uses_local_registry else None
    return client.create_experiment(settings.experiment_name, artifact_location=location)


def resolve_served_version(client: MlflowClient, settings: Settings) -> ModelVersion:
    """The version to serve: the pinned MODEL_VERSION if set, else the serving alias."""
    name = settings.model_name
    try:
        if settings.pinned_model_version is not None:
            return client.get_model_version(name, str(settings.pinned_model_version))
        return client.get_model_version_by_alias(name, settings.serving_alias)
    except MlflowException as error:
        raise RegistryError(
            f"model {name!r} has no {settings.served_model_reference} in the registry at "
            f"{settings.mlflow_tracking_uri} (train and register one first: `make train`): "
            f"{error.message}"
        ) from error


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and the registry facts about it."""

    model: Any
    name: str
    version: str
    run_id: str
    feature_names: list[str]
    class_names: list[str]


def load_served_model(settings: Settings) -> ServedModel:
    """Resolve the served version once, then load exactly that version (no alias race)."""
    client = connect(settings)
    version = resolve_served_version(client, settings)
    uri = f"models:/{settings.model_name}/{version.version}"
    # The sklearn flavour loads in ~0.1 s; the pyfunc wrapper would add ~2 s per start.
    model = mlflow.sklearn.load_model(uri)
    signature = mlflow.models.get_model_info(uri).signature
    feature_names = signature.inputs.input_names() if signature else []
    log.info("loaded %s version %s (run %s)", settings.model_name, version.version, version.run_id)
    return ServedModel(
        model=model,
        name=settings.model_name,
        version=str(version.version),
        run_id=version.run_id,
        feature_names=list(feature_names),
        class_names=[str(c) for c in getattr(model, "classes_", [])],
    )
