"""Registering a build: the model version trained from a commit gets its image and pipeline."""

from __future__ import annotations

import re

from mlflow import MlflowClient

from ..settings import CHAMPION_ALIAS, MODEL_NAME, STAGING_ALIAS, Settings
from . import DeliveryError
from .release import DIGEST, VersionFacts

COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
IMAGE = re.compile(r"^[a-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9._-]+)+(?::[A-Za-z0-9_.-]+)?$")


def register_build(
    client: MlflowClient,
    settings: Settings,
    commit: str,
    image: str,
    digest: str | None,
    pipeline_url: str | None,
) -> dict[str, str]:
    """Tag the newest version trained from `commit`; return it, its promotion decision and
    (for information) the version the staging alias names."""
    problems = []
    if not COMMIT.match(commit):
        problems.append(f"commit {commit!r}: must be 7-40 lowercase hex digits")
    if not IMAGE.match(image):
        problems.append(f"image {image!r}: must be REGISTRY/PATH[:TAG], lowercase")
    if digest is not None and not DIGEST.match(digest):
        problems.append(f"digest {digest!r}: must be sha256: and 64 hex digits")
    if pipeline_url is not None and not pipeline_url.startswith(("https://", "http://")):
        problems.append(f"pipeline URL {pipeline_url!r}: must be an http(s) URL")
    if problems:
        raise DeliveryError("; ".join(problems))

    experiment = client.get_experiment_by_name(settings.experiment_name)
    runs = (
        client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.git_commit LIKE '{commit}%'"
        )
        if experiment
        else []
    )
    run_ids = {run.info.run_id for run in runs}
    versions = [
        v for v in client.search_model_versions(f"name='{MODEL_NAME}'") if v.run_id in run_ids
    ]
    if not versions:
        raise DeliveryError(
            f"no version of {MODEL_NAME} was trained from commit {commit}: run "
            f"`make train` with GIT_COMMIT={commit} first"
        )
    version = max(versions, key=lambda v: int(v.version))
    tags = {
        "image": image,
        "git_commit": commit,
        "image.digest": digest,
        "pipeline_url": pipeline_url,
    }
    for key, value in tags.items():
        if value:
            client.set_model_version_tag(MODEL_NAME, version.version, key, value)
    staging = client.get_model_version_by_alias(MODEL_NAME, STAGING_ALIAS)
    return {
        "version": str(version.version),
        "decision": version.tags.get("promotion.decision", "unknown"),
        "staging_version": str(staging.version),
    }


def version_facts(client: MlflowClient, version: str) -> tuple[VersionFacts, VersionFacts | None]:
    """The candidate's and the champion's metrics, for the promotion request's body."""

    def facts(model_version) -> VersionFacts:
        metrics = {
            k.removeprefix("metric."): float(v)
            for k, v in model_version.tags.items()
            if k.startswith("metric.")
        }
        return VersionFacts(
            str(model_version.version), metrics, model_version.tags.get("promotion.decision")
        )

    candidate = facts(client.get_model_version(MODEL_NAME, version))
    try:
        champion = facts(client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS))
    except Exception:  # no champion yet
        champion = None
    return candidate, champion
