"""The MLflow model registry: where models are recorded, and how the served one is found.

Both the server and the drift service call `resolve_served_version`, so they can never
disagree on which version is in service.

Whoever can write to the registry must not be able to run code in the serving pods: a model
is loaded only from skops' format (never pickle or cloudpickle, whatever the artifact's
MLmodel names), with the types skops trusts plus `model.TRUSTED_TYPES` of this code (never a list
taken from the artifact), and, where CI pinned MODEL_DIGEST, only if the artifacts hash to it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from . import model as estimator
from .jsonhttp import HttpError, status_of
from .settings import CHALLENGER_ALIAS, CHAMPION_ALIAS, PROMOTION_METRICS, STAGING_ALIAS, Settings

log = logging.getLogger(__name__)

SERVED_FORMAT = "skops"  # MLflow's sklearn flavour: pickle and cloudpickle run code on load


class RegistryError(RuntimeError):
    """The registry cannot give what was asked for; the message says what to do."""


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured server (checked reachable), or the local registry."""
    # MLflow's client retries for minutes by default; a registry outage must fail a run in
    # bounded time instead. Explicit environment values still win.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    request_timeout = str(int(settings.mlflow_timeout_seconds * 3))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", request_timeout)
    if not settings.uses_local_registry:
        check_reachable(settings.mlflow_tracking_uri, settings.mlflow_timeout_seconds)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    if settings.uses_local_registry:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    return MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)


def check_reachable(uri: str, timeout: float) -> None:
    """Fail fast with a clear message when the MLflow server does not answer /health."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        status = status_of(f"{uri.rstrip('/')}/health", timeout=timeout)
        if status == 200:
            return
        problem = f"HTTP {status}"
    except HttpError as error:
        problem = error.reason
    raise RegistryError(
        f"MLflow at {uri} is unreachable ({problem}) after {timeout:g} s: start it, fix "
        "MLFLOW_TRACKING_URI, or unset it to use the local registry"
    )


def ensure_experiment(client: MlflowClient, settings: Settings) -> str:
    """Return the experiment id, creating it (with a local artifact root if local)."""
    experiment = client.get_experiment_by_name(settings.experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    location = settings.local_artifact_root.as_uri() if settings.uses_local_registry else None
    return client.create_experiment(settings.experiment_name, artifact_location=location)


def resolve_served_version(client: MlflowClient, settings: Settings) -> ModelVersion:
    """The version to serve: the pinned MODEL_VERSION if set, else the serving alias."""
    return resolve_version(client, settings, settings.pinned_model_version, settings.serving_alias)


def resolve_version(
    client: MlflowClient, settings: Settings, version: int | None, alias: str
) -> ModelVersion:
    """`version` of this model if given, else the version `alias` names; RegistryError
    naming what was asked when the registry has no such version."""
    name = settings.model_name
    reference = f"version {version}" if version is not None else f"alias {alias!r}"
    try:
        if version is not None:
            return client.get_model_version(name, str(version))
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        raise RegistryError(
            f"model {name!r} has no {reference} in the registry at "
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
    # The names of the model's output columns (tasks/: the classes, or the prediction).
    output_names: list[str]
    # The signature's type of each feature, MLflow's names ("double", "long", ...).
    feature_types: list[str] = field(default_factory=list)
    # The MLmodel's metadata: what the task saved for serving (tasks/*.model_metadata).
    metadata: dict[str, Any] = field(default_factory=dict)


def artifact_digest(directory: Path) -> str:
    """sha256 over every file of a model's artifacts: each file's path and content."""
    listing = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        listing.update(f"{content}  {path.relative_to(directory).as_posix()}\n".encode())
    return f"sha256:{listing.hexdigest()}"


def download_version(settings: Settings, version: str) -> Path:
    return Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{settings.model_name}/{version}"
    ))  # fmt: skip


# The MLmodel metadata key of the drift detector's digest: the training run logs the detector
# first and records its digest in the model's MLmodel, which MODEL_DIGEST covers, so one pin
# verifies both (drift/service.py checks the detector against it).
DETECTOR_DIGEST_KEY = "drift_detector_digest"


def verify_digest(local: Path, version: str, pinned_digest: str | None) -> None:
    """RegistryError unless the downloaded artifacts hash to the pinned digest (if pinned)."""
    if pinned_digest is not None:
        found = artifact_digest(local)
        if found != pinned_digest:
            raise RegistryError(
                f"version {version}: its artifacts hash to {found}, but MODEL_DIGEST pins "
                f"{pinned_digest}: they changed after CI registered them; refusing to load"
            )


def load_verified(local: Path, version: str, pinned_digest: str | None) -> tuple[Any, Any]:
    """The model of downloaded artifacts and their MLmodel, or RegistryError naming the check
    it failed."""
    verify_digest(local, version, pinned_digest)
    mlmodel = mlflow.models.Model.load(str(local))
    flavour = mlmodel.flavors.get("sklearn") or {}
    form = flavour.get("serialization_format")
    if form != SERVED_FORMAT:
        raise RegistryError(
            f"version {version}: saved as {form or 'no sklearn model'}; only {SERVED_FORMAT} "
            "is loaded (pickle and cloudpickle run code while loading): retrain to re-save it"
        )
    import skops.io

    path = local / flavour.get("pickled_model", "model.skops")
    trusted = estimator.TRUSTED_TYPES  # read at load: the estimator's own list, in review
    untrusted = sorted(set(skops.io.get_untrusted_types(file=path)) - set(trusted))
    if untrusted:
        raise RegistryError(
            f"version {version}: the model contains types this code does not trust: "
            f"{', '.join(untrusted)} (model.TRUSTED_TYPES lists the ones it may)"
        )
    return skops.io.load(path, trusted=list(trusted)), mlmodel


def output_names(settings: Settings, version: str) -> list[str]:
    """A version's output names (its signature's outputs), read from its MLmodel alone."""
    import mlflow

    connect(settings)
    info = mlflow.models.get_model_info(f"models:/{settings.model_name}/{version}")
    outputs = info.signature.outputs if info.signature is not None else None
    if outputs is None:
        raise RegistryError(f"version {version}: its MLmodel has no output signature")
    return [str(name) for name in outputs.input_names()]


def load_served_model(settings: Settings) -> ServedModel:
    """Resolve the served version once, then load exactly that version (no alias race)."""
    client = connect(settings)
    version = resolve_served_version(client, settings)
    # Fetch the artifacts once, then read model and signature from the same local copy.
    local = download_version(settings, version.version)
    # skops loads the sklearn pipeline in ~0.1 s; MLflow's pyfunc wrapper would add ~2 s.
    model, mlmodel = load_verified(local, str(version.version), settings.pinned_model_digest)
    signature = mlmodel.signature
    feature_names = signature.inputs.input_names() if signature else []
    feature_types = [t.name for t in signature.inputs.input_types()] if signature else []
    log.info("loaded %s version %s (run %s)", settings.model_name, version.version, version.run_id)
    from .tasks import task

    return ServedModel(
        model=model,
        name=settings.model_name,
        version=str(version.version),
        run_id=version.run_id,
        feature_names=list(feature_names),
        output_names=task.output_names(model),
        feature_types=feature_types,
        metadata=dict(mlmodel.metadata or {}),
    )


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a new version takes the challenger and staging aliases, and why."""

    decision: str  # "first-champion", "promoted" or "rejected"
    metric: str
    candidate_score: float
    champion_version: str | None
    champion_score: float | None
    margin: float

    @property
    def promoted(self) -> bool:
        return self.decision != "rejected"

    def as_tags(self) -> dict[str, str]:
        tags = {
            "promotion.decision": self.decision,
            "promotion.metric": self.metric,
            "promotion.margin": f"{self.margin:g}",
            "promotion.candidate_score": f"{self.candidate_score:.6f}",
        }
        if self.champion_version is not None and self.champion_score is not None:
            tags["promotion.champion_version"] = self.champion_version
            tags["promotion.champion_score"] = f"{self.champion_score:.6f}"
        return tags


def champion_version(client: MlflowClient, name: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in error.message:
            return None
        raise


def decide(
    candidate_score: float,
    champion: ModelVersion | None,
    champion_score: float | None,
    settings: Settings,
) -> PromotionDecision:
    """The first version is champion; a later one must beat it by more than the margin (in
    the metric's own direction: a lower error, a higher score)."""
    gain = candidate_score - champion_score if champion_score is not None else 0.0
    if not PROMOTION_METRICS[settings.promotion_metric]:
        gain = -gain
    if champion is None or champion_score is None:
        decision = "first-champion"
    elif gain > settings.promotion_margin:
        decision = "promoted"
    else:
        decision = "rejected"
    return PromotionDecision(
        decision=decision,
        metric=settings.promotion_metric,
        candidate_score=candidate_score,
        champion_version=str(champion.version) if champion is not None else None,
        champion_score=champion_score,
        margin=settings.promotion_margin,
    )


def apply_decision(
    client: MlflowClient, name: str, version: str, decision: PromotionDecision
) -> None:
    """Record the decision on the version and move the aliases it earns."""
    for key, value in decision.as_tags().items():
        client.set_model_version_tag(name, version, key, value)
    if decision.decision == "first-champion":
        aliases = [CHAMPION_ALIAS, STAGING_ALIAS]
    elif decision.promoted:
        aliases = [CHALLENGER_ALIAS, STAGING_ALIAS]
    else:
        aliases = []
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version)
