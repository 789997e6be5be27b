"""`gitops sync-registry`: the MLflow aliases follow what production runs, never ahead of it.

After a merge to main, every production overlay pins a model version (MODEL_VERSION), and,
while a rollout runs, a `candidate` predictor with its own version. For each model whose
`production` or `candidate` alias disagrees, wait until Argo CD reports its production
Application synced to this commit and healthy, then move the aliases (`candidate` is removed
when the rollout ends). A revert of a promotion is just another merge: the overlay pins the
old version again and the alias moves back. Models already in agreement are left alone, so
re-running changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from . import PlatformError, inventory
from .argocd import ArgoCd, wait_until_deployed
from .settings import (
    CANDIDATE_ALIAS,
    PREDICTOR_ROLE_LABEL,
    PREDICTOR_VERSION_LABEL,
    PRODUCTION,
    PRODUCTION_ALIASES,
)


@dataclass(frozen=True)
class Release:
    model: str
    version: str
    application: str
    candidate: str | None = None  # the rollout candidate's version, while one runs


def production_releases(root: Path) -> list[Release]:
    """The model version every production overlay pins, with its generated Application."""
    inv = inventory.load(root)
    by_path = {
        source.path: application["metadata"]["name"]
        for application in inv.generated
        for source in inv.sources(application)
    }
    releases = []
    for model, environment in inventory.model_environments(root):
        if environment != PRODUCTION:
            continue
        path = f"models/{model}/{environment}"
        if path not in by_path:
            continue  # parked or excluded: not deployed, so nothing to follow
        candidate = candidate_version(inv.documents[path])
        releases.append(Release(model, pinned_version(root / path), by_path[path], candidate))
    return releases


def candidate_version(documents: list[dict]) -> str | None:
    """The version of the `candidate` predictor a rollout adds, from the rendered manifests:
    a SeldonDeployment's predictor, or an InferenceService's canary entry, labelled so."""
    for document in documents:
        if document.get("kind") == "SeldonDeployment":
            predictors = document["spec"].get("predictors") or []
        elif document.get("kind") == "InferenceService":
            predictors = [c.get("predictor") or {} for c in document["spec"].get("canary") or []]
        else:
            continue
        for predictor in predictors:
            labels = predictor.get("labels") or {}
            if labels.get(PREDICTOR_ROLE_LABEL) == CANDIDATE_ALIAS:
                return str(labels[PREDICTOR_VERSION_LABEL])
    return None


def pinned_version(overlay: Path) -> str:
    document = yaml.safe_load((overlay / "kustomization.yaml").read_text()) or {}
    for generator in document.get("configMapGenerator") or []:
        for literal in generator.get("literals") or []:
            key, _, value = str(literal).partition("=")
            if key == "MODEL_VERSION":
                if not (value.isdigit() and int(value) > 0):
                    raise PlatformError(f"{overlay}: MODEL_VERSION={value!r} is not a version")
                return value
    raise PlatformError(f"{overlay}/kustomization.yaml: no MODEL_VERSION literal")


def alias_version(client: MlflowClient, model: str, alias: str) -> str | None:
    try:
        return client.get_model_version_by_alias(model, alias).version
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def sync(
    root: Path,
    client: MlflowClient,
    argocd: ArgoCd,
    revision: str,
    *,
    timeout: float,
    interval: float,
    contains: Callable[[str, str], bool],
    log: Callable[[str], None] = print,
) -> list[str]:
    """Move the aliases of every model whose production changed; one line per model."""
    report = []
    for release in production_releases(root):
        current = alias_version(client, release.model, PRODUCTION_ALIASES[0])
        candidate = alias_version(client, release.model, CANDIDATE_ALIAS)
        if current == release.version and candidate == release.candidate:
            rollout = f", candidate {candidate}" if candidate else ""
            report.append(
                f"{release.model}: production is version {release.version}{rollout}, as pinned"
            )
            continue
        for version in filter(None, (release.version, release.candidate)):
            try:
                client.get_model_version(release.model, version)
            except MlflowException:
                raise PlatformError(
                    f"{release.model}: production pins version {version}, which the "
                    "registry does not have"
                ) from None
        wait_until_deployed(
            argocd, release.application, revision,
            timeout=timeout, interval=interval, contains=contains, log=log,
        )  # fmt: skip
        moved = []
        if current != release.version:
            for alias in PRODUCTION_ALIASES:
                client.set_registered_model_alias(release.model, alias, release.version)
            moved.append(
                f"{', '.join(PRODUCTION_ALIASES)} moved {current or '(none)'} -> {release.version}"
            )
        if candidate != release.candidate:
            if release.candidate is None:
                client.delete_registered_model_alias(release.model, CANDIDATE_ALIAS)
                moved.append(f"{CANDIDATE_ALIAS} removed (was {candidate})")
            else:
                client.set_registered_model_alias(release.model, CANDIDATE_ALIAS, release.candidate)
                moved.append(
                    f"{CANDIDATE_ALIAS} moved {candidate or '(none)'} -> {release.candidate}"
                )
        report.append(f"{release.model}: {'; '.join(moved)}")
    return report
