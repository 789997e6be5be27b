"""What a rollout adds to the production overlay in every runtime, beside the candidate's own
predictor (the runtime's `rollout.py` writes that one, in its resource's shape).

- The labels each runtime's rollout puts on the candidate predictor (and where the runtime
  pins one, on the default), so the pods, the metrics and the platform's registry sync read
  the role and the release from them.
- The candidate's own drift service (`rollout-drift.yaml`, when the model has drift
  detection): a Deployment and a Service like the default one's, watching the candidate's
  version in a consumer group of its own, scraped by the same ServiceMonitor.
- The overlay's kustomization listing the rollout's patch and that file, and unlisting them.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ..settings import MODEL_NAME, kafka_names
from .release import ROLLOUT_PATCH, Release, base_images, dump, yaml

# The labels that record on a predictor its role and release (each operator copies a
# predictor's labels to its pods; the platform reads the candidate's version from them).
ROLE_LABEL = "mlops/predictor-role"
VERSION_LABEL = "mlops/model-version"
TAG_LABEL = "mlops/image-tag"
STRATEGY_LABEL = "mlops/rollout-strategy"
# The digest of the predictor's model artifacts (too long for a label's 63 characters).
DIGEST_ANNOTATION = "mlops/model-digest"
DRIFT = "rollout-drift.yaml"
DRIFT_COMPONENT = "drift-candidate"


def labels(release: Release, role: str, strategy: str) -> dict[str, str]:
    return {ROLE_LABEL: role, VERSION_LABEL: release.model_version, TAG_LABEL: release.image_tag,
            STRATEGY_LABEL: strategy}  # fmt: skip


def release_of(predictor_labels: dict, annotations: dict | None, image: str) -> Release:
    """The release a rollout pinned on one predictor: its labels, annotations and image."""
    digests = {"serve": image.split("@", 1)[1]} if "@" in image else {}
    model_digest = (annotations or {}).get(DIGEST_ANNOTATION)
    return Release(predictor_labels[TAG_LABEL], str(predictor_labels[VERSION_LABEL]), digests,
                   model_digest)  # fmt: skip


def pinned_image(image_name: str, release: Release) -> str:
    digest = release.digests.get("serve")
    return f"{image_name}@{digest}" if digest else f"{image_name}:{release.image_tag}"


def release_env(release: Release, predictor: str) -> list[dict[str, str]]:
    """The environment that makes a model server serve `release` as `predictor`: its own
    version and artifact digest over the ConfigMap's (production's)."""
    return [{"name": "PREDICTOR_ID", "value": predictor},
            {"name": "MODEL_VERSION", "value": release.model_version},
            {"name": "MODEL_DIGEST", "value": release.model_digest or ""}]  # fmt: skip


def write_drift(target: Path, candidate: Release) -> bool:
    """The candidate's drift service into `target` (the production overlay); False when the
    model has no drift detection."""
    drift = _candidate_drift(target / "base", candidate)
    if not drift:
        return False
    text = "---\n".join(dump(yaml(), d) for d in drift)
    note = f"# The drift service of the rollout's candidate, version {candidate.model_version}"
    (target / DRIFT).write_text(f"{note}.\n{text}")
    return True


def _candidate_drift(base_dir: Path, candidate: Release) -> list:
    """A Deployment and a Service like the default drift service's, for the candidate's
    version: own consumer group, own pods (the default's selectors do not match them), and
    a Service labelled like the default's so the same ServiceMonitor scrapes it."""
    source = base_dir / "drift-service.yaml"
    if not source.exists():
        return []
    documents = {d["kind"]: d for d in yaml().load_all(source.read_text())}  # one of each
    name = f"{MODEL_NAME}-{DRIFT_COMPONENT}"
    deployment = copy.deepcopy(documents["Deployment"])
    deployment["metadata"]["name"] = name
    deployment["metadata"]["labels"]["app.kubernetes.io/component"] = DRIFT_COMPONENT
    deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = DRIFT_COMPONENT
    template = deployment["spec"]["template"]
    template["metadata"]["labels"]["app.kubernetes.io/component"] = DRIFT_COMPONENT
    container = template["spec"]["containers"][0]
    container["image"] = base_images(base_dir)["drift"]  # retagged like the default's
    names = kafka_names("production")
    container["env"][:0] = [
        {"name": "MODEL_VERSION", "value": candidate.model_version},
        {"name": "MODEL_DIGEST", "value": candidate.model_digest or ""},
        {"name": "DRIFT_CONSUMER_GROUP", "value": names.candidate_group},
        {"name": "QUALITY_CONSUMER_GROUP", "value": names.candidate_quality_group},
    ]
    # The default's quality state is its own volume: a rollout's short-lived candidate keeps
    # its state in the pod (an eviction measures it afresh).
    for volume in template["spec"]["volumes"]:
        if "persistentVolumeClaim" in volume:
            del volume["persistentVolumeClaim"]
            volume["emptyDir"] = {"sizeLimit": "1Gi"}
    service = copy.deepcopy(documents["Service"])
    service["metadata"]["name"] = name
    service["spec"]["selector"]["app.kubernetes.io/component"] = DRIFT_COMPONENT
    # These live in the overlay, out of reach of the base's common labels: add them here
    # (the ServiceMonitor selects Services by them).
    kustomization = yaml().load((base_dir / "kustomization.yaml").read_text())
    entries = kustomization.get("labels") or []
    common = {k: v for entry in entries for k, v in entry["pairs"].items()}
    for document in (deployment, service):
        document["metadata"]["labels"] = {**common, **document["metadata"].get("labels", {})}
    return [deployment, service]


def list_in_overlay(target: Path, drift: bool) -> None:
    """List the rollout's patch (and the candidate's drift service) in the overlay."""
    _edit(target, listed=True, drift=drift)


def unlist_from_overlay(target: Path) -> None:
    """Unlist and delete the rollout's patch and the candidate's drift service."""
    _edit(target, listed=False, drift=False)
    (target / ROLLOUT_PATCH).unlink()
    (target / DRIFT).unlink(missing_ok=True)


def _edit(target: Path, listed: bool, drift: bool) -> None:
    writer = yaml()
    path = target / "kustomization.yaml"
    document = writer.load(path.read_text())
    resources = document["resources"]
    resources[:] = [r for r in resources if r != DRIFT]
    if drift:
        resources.append(DRIFT)
    patches = [p for p in document.get("patches") or [] if p.get("path") != ROLLOUT_PATCH]
    if listed:
        patches.append({"path": ROLLOUT_PATCH})
    if patches:
        document["patches"] = patches
    elif "patches" in document:
        del document["patches"]
    path.write_text(dump(writer, document))


def pin_serve_image(target: Path, release: Release | None) -> None:
    """Drop the overlay's serving image pin, or set it to `release`'s (a runtime that pins
    the image per predictor while rolling out drops it, and restores it on abort)."""
    writer = yaml()
    path = target / "kustomization.yaml"
    document = writer.load(path.read_text())
    name = base_images(target / "base")["serve"]
    images = document.get("images") or []
    images[:] = [i for i in images if i.get("name") != name]
    if release is not None:
        entry = {"name": name, "newTag": release.image_tag}
        if "serve" in release.digests:
            entry["digest"] = release.digests["serve"]
        images.insert(0, entry)
    document["images"] = images
    path.write_text(dump(writer, document))
