"""What every runtime's rollout adds beside its candidate predictor: the candidate's own
drift service, scraped like the default one's, gone with the rollout."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.delivery import overlay, release, rollout
from {{ cookiecutter.package_name }}.delivery.rollout import Strategy
from {{ cookiecutter.package_name }}.runtimes import protocol
{%- if cookiecutter.include_drift_detection %}
from {{ cookiecutter.package_name }}.settings import IMAGES, MODEL_NAME, kafka_names
{%- endif %}
{%- if cookiecutter.include_drift_detection %}

from .manifests import kustomize, validate
{%- else %}

from .manifests import kustomize
{%- endif %}

CANDIDATE = release.Release("bbbbbbb", "5", {"serve": "sha256:" + "c" * 64}, "sha256:" + "5" * 64)
pytestmark = pytest.mark.skipif(
    "canary" not in protocol.ROLLOUT_STRATEGIES, reason="this runtime only replaces"
)


{%- if cookiecutter.include_drift_detection %}


def container_of(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_the_candidate_gets_its_own_drift_service(tmp_path: Path):
    overlay.render(tmp_path, "production", release.Release("aaaaaaa", "4"))
    overlay.render(tmp_path, "staging", CANDIDATE)
    rollout.start(tmp_path, Strategy("canary", 10))
    documents = kustomize(release.overlay_dir(tmp_path, "production"))
    for document in documents:
        validate(document)
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    default = by_name[("Deployment", f"{MODEL_NAME}-drift")]
    candidate = by_name[("Deployment", f"{MODEL_NAME}-drift-candidate")]
    drift_env = {e["name"]: e.get("value") for e in container_of(candidate).get("env", [])}
    assert drift_env["MODEL_VERSION"] == "5"
    assert drift_env["MODEL_DIGEST"] == CANDIDATE.model_digest
    # A group of its own in production's (its Kafka user is granted it: delivery/kafka.py).
    assert drift_env["DRIFT_CONSUMER_GROUP"] == kafka_names("production").candidate_group
    assert container_of(candidate)["image"] == container_of(default)["image"]
    assert container_of(default)["image"] == f"{IMAGES['drift']}:aaaaaaa"
    pods = candidate["spec"]["template"]["metadata"]["labels"]
    selects = default["spec"]["selector"]["matchLabels"]
    assert not selects.items() <= pods.items(), "the default's Deployment must not own them"
    service = by_name[("Service", f"{MODEL_NAME}-drift-candidate")]
    assert service["spec"]["selector"].items() <= pods.items()
    monitor = next(d for d in documents if d["kind"] == "ServiceMonitor")
    wanted = monitor["spec"]["selector"]["matchLabels"]
    assert wanted.items() <= service["metadata"]["labels"].items(), "scraped like the default"
    rollout.abort(tmp_path)
    names = [d["metadata"]["name"] for d in kustomize(release.overlay_dir(tmp_path, "production"))]
    assert not [n for n in names if n.endswith("-drift-candidate")]
{%- else %}


def test_without_drift_detection_a_rollout_adds_no_drift_service(tmp_path: Path):
    overlay.render(tmp_path, "production", release.Release("aaaaaaa", "4"))
    overlay.render(tmp_path, "staging", CANDIDATE)
    rollout.start(tmp_path, Strategy("canary", 10))
    names = [d["metadata"]["name"] for d in kustomize(release.overlay_dir(tmp_path, "production"))]
    assert not [n for n in names if "drift" in n]
    assert not (release.overlay_dir(tmp_path, "production") / "rollout-drift.yaml").exists()
{%- endif %}
