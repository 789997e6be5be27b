"""Every name, address, port and alias of this model, defined once.

Values come from the generated defaults below and can be overridden by environment variables
(the Kubernetes manifests set them through a ConfigMap). Nothing else in the package reads
the environment for these facts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MODEL_NAME = "{{ cookiecutter.model_name }}"
PACKAGE_NAME = "{{ cookiecutter.package_name }}"
TEMPLATE_VERSION = "{{ cookiecutter.__template_version }}"
# The GitOps repo Argo CD syncs: CI writes this model's Kustomize overlays there.
PLATFORM_REPO_URL = "{{ cookiecutter.platform_repo_url }}"

# Aliases (MLflow registry, no stages): the flow points STAGING at each new version; the
# GitOps promotion moves PRODUCTION once the cluster runs it.
STAGING_ALIAS = "staging"
PRODUCTION_ALIAS = "production"

# The Seldon wrapper class, as `seldon-core-microservice` imports it.
SELDON_CLASS = f"{PACKAGE_NAME}.serving.SeldonModel"

# Hyperparameter search trials per training run (0: train with the default parameters).
DEFAULT_TUNING_TRIALS = {{ 20 if cookiecutter.hyperparameter_tuning else 0 }}

# Local state (SQLite registry, artifacts) when no MLflow server is configured.
DEFAULT_STATE_DIR = ".mlops"


class SettingsError(ValueError):
    """An environment variable holds a value this model cannot use."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name}={raw!r}: must be a port number from 1 to 65535")
    return int(raw)


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


@dataclass(frozen=True)
class Settings:
    model_name: str
    state_dir: Path
    mlflow_tracking_uri: str
    experiment_name: str
    serving_alias: str
    pinned_model_version: int | None
    http_port: int
    grpc_port: int
    metrics_port: int
    kafka_bootstrap_servers: str | None
    request_topic: str
    random_seed: int
    tuning_trials: int

    @property
    def uses_local_registry(self) -> bool:
        return self.mlflow_tracking_uri.startswith("sqlite:")

    @property
    def local_artifact_root(self) -> Path:
        return self.state_dir / "artifacts"

    @property
    def served_model_reference(self) -> str:
        """What the server loads: a pinned version when given, else the serving alias."""
        if self.pinned_model_version is not None:
            return f"version {self.pinned_model_version}"
        return f"alias {self.serving_alias!r}"

    @property
    def prediction_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/api/v1.0/predictions"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment (default: os.environ), validating every value."""
    env = os.environ if env is None else env
    state_dir = Path(env.get("MLOPS_STATE_DIR", DEFAULT_STATE_DIR)).resolve()
    tracking_uri = _optional(env, "MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir / 'mlflow.db'}"

    version_raw = _optional(env, "MODEL_VERSION")
    if version_raw is not None and not (version_raw.isdigit() and int(version_raw) > 0):
        raise SettingsError(f"MODEL_VERSION={version_raw!r}: must be a positive integer")

    seed_raw = env.get("RANDOM_SEED", "42")
    if not seed_raw.isdigit():
        raise SettingsError(f"RANDOM_SEED={seed_raw!r}: must be a non-negative integer")

    trials_raw = env.get("TUNING_TRIALS", str(DEFAULT_TUNING_TRIALS))
    if not trials_raw.isdigit():
        raise SettingsError(f"TUNING_TRIALS={trials_raw!r}: must be a non-negative integer")

    alias = env.get("MODEL_ALIAS", STAGING_ALIAS).strip()
    if not alias or not alias.replace("-", "").replace("_", "").isalnum():
        raise SettingsError(f"MODEL_ALIAS={alias!r}: must be letters, digits, '-' or '_'")

    return Settings(
        model_name=MODEL_NAME,
        state_dir=state_dir,
        mlflow_tracking_uri=tracking_uri,
        experiment_name=env.get("MLFLOW_EXPERIMENT_NAME", MODEL_NAME),
        serving_alias=alias,
        pinned_model_version=int(version_raw) if version_raw else None,
        # Seldon's own variable names, so the operator's injected ports win in the cluster.
        http_port=_port(env, "PREDICTIVE_UNIT_HTTP_SERVICE_PORT", 9000),
        grpc_port=_port(env, "PREDICTIVE_UNIT_GRPC_SERVICE_PORT", 9500),
        metrics_port=_port(env, "PREDICTIVE_UNIT_METRICS_SERVICE_PORT", 6000),
        kafka_bootstrap_servers=_optional(env, "KAFKA_BOOTSTRAP_SERVERS"),
        request_topic=env.get("REQUEST_TOPIC", f"{MODEL_NAME}-requests"),
        random_seed=int(seed_raw),
        tuning_trials=int(trials_raw),
    )
