"""What every runtime's rollout adds beside its candidate predictor: the candidate's own
drift service, scraped like the default one's, gone with the rollout; and what every runtime
refuses: a candidate whose model server would differ from production's beyond its release."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.delivery import DeliveryError, overlay, release, rollout
from {{ cookiecutter.package_name }}.delivery.rollout import Strategy
from {{ cookiecutter.package_name }}.runtimes import protocol
{%- if cookiecutter.include_drift_detection %}
from {{ cookiecutter.package_name }}.settings import IMAGES, MODEL_NAME, SERVING_RUNTIME, kafka_names
{%- else %}
from {{ cookiecutter.package_name }}.settings import SERVING_RUNTIME
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


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("change", ["runtime manifest", "config literal", "new runtime file"])
def test_a_candidate_whose_server_manifests_differ_from_production_is_refused(
    tmp_path: Path, change: str
):
    """A gradual candidate runs on production's copy of the base and --finish ships staging's:
    a change to the server's manifests or configuration would reach production untried."""
    overlay.render(tmp_path, "production", release.Release("aaaaaaa", "4"))
    overlay.render(tmp_path, "staging", CANDIDATE)
    staging_base = release.overlay_dir(tmp_path, "staging") / "base"
    runtime_dir = staging_base / "runtimes" / SERVING_RUNTIME
    if change == "runtime manifest":
        edited = next(p for p in sorted(runtime_dir.iterdir()) if p.suffix == ".yaml")
        edited.write_text(edited.read_text() + "# a change\n")
        named = f"base/runtimes/{SERVING_RUNTIME}/{edited.name}"
    elif change == "config literal":
        kustomization = staging_base / "kustomization.yaml"
        kustomization.write_text(
            kustomization.read_text().replace("MODEL_ALIAS=staging", "MODEL_ALIAS=other")
        )
        named = "-config literals of base/kustomization.yaml"
    else:
        (runtime_dir / "extra.yaml").write_text("{}\n")
        named = f"base/runtimes/{SERVING_RUNTIME}/extra.yaml"
    before = snapshot(tmp_path)
    for strategy in (Strategy("canary", 10), Strategy("shadow"), Strategy("ab", 50)):
        with pytest.raises(DeliveryError) as refused:
            rollout.start(tmp_path, strategy)
        message = str(refused.value)
        assert named in message and "--strategy replace" in message, message
        assert snapshot(tmp_path) == before, "a refused rollout writes nothing"
    # A replace ships staging's manifests as they are: nothing to try first.
    rollout.start(tmp_path, Strategy("replace"))
    assert release.read_release(tmp_path, "production") == CANDIDATE
