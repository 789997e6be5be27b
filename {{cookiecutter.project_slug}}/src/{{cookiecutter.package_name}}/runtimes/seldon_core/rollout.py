"""Rollouts on Seldon Core: two predictors of one SeldonDeployment, in the production overlay.

`delivery/rollout.py` checks the request and calls this module (its `RuntimeRollout`). A
rollout keeps production's version as the `default` predictor and adds staging's as the
`candidate` predictor in `rollout.yaml`, a patch the production overlay lists: a canary or an
A/B test splits the traffic between them (`traffic` of each), a shadow candidate gets a copy
of every request (`shadow: true`).

Each predictor is pinned to its own image and model version (MODEL_VERSION in its pods) and
labelled with its role and version, so metrics, request logs and the registry tell them
apart. Finishing makes the candidate production's only predictor; aborting removes it. While
a rollout runs the serving image is pinned inside the patch: the overlay's `images:` entry
would otherwise retag both predictors alike. A model with drift detection also gets a second
drift service for the candidate's version (`rollout-drift.yaml`), so drift metrics, labelled
by version, follow each predictor.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ...delivery.release import (
    CANDIDATE,
    ROLLOUT_PATCH,
    STABLE,
    Release,
    base_images,
    dump,
    overlay_dir,
    yaml,
)
from ...delivery.rollout import Rollout, Strategy
from ...settings import MODEL_NAME, SERVING_RUNTIME, kafka_names
from .protocol import MANIFEST

# The labels that record on each predictor its role and release (Seldon copies them to the
# predictor's pods and metrics; the platform reads the candidate's version from them).
ROLE_LABEL = "mlops/predictor-role"
VERSION_LABEL = "mlops/model-version"
TAG_LABEL = "mlops/image-tag"
STRATEGY_LABEL = "mlops/rollout-strategy"
# The digest of the predictor's model artifacts (too long for a label's 63 characters).
DIGEST_ANNOTATION = "mlops/model-digest"
# The candidate's own drift service (when the model has one): a Deployment and a Service
# beside the default's, watching the candidate's version (the request log carries both).
DRIFT = "rollout-drift.yaml"
DRIFT_COMPONENT = "drift-candidate"


def read(platform_root: Path) -> Rollout:
    """The rollout of the production overlay's patch: strategy and releases, from the labels
    and images of its predictors."""
    patch = overlay_dir(platform_root, "production") / ROLLOUT_PATCH
    predictors = yaml().load(patch.read_text())["spec"]["predictors"]
    by_role = {p["labels"][ROLE_LABEL]: p for p in predictors}
    candidate = by_role[CANDIDATE]
    traffic = candidate.get("traffic")
    strategy = Strategy(candidate["labels"][STRATEGY_LABEL], int(traffic) if traffic else None)
    return Rollout(strategy, _release(by_role["stable"]), _release(candidate))


def _release(predictor: Any) -> Release:
    """The release a rollout pinned on one of its predictors (labels and image)."""
    labels = predictor["labels"]
    image = _model_container(predictor)["image"]
    digests = {"serve": image.split("@", 1)[1]} if "@" in image else {}
    model_digest = (predictor.get("annotations") or {}).get(DIGEST_ANNOTATION)
    return Release(labels[TAG_LABEL], str(labels[VERSION_LABEL]), digests, model_digest)


def _model_container(predictor: Any) -> Any:
    return predictor["componentSpecs"][0]["spec"]["containers"][0]


def _base_predictor(base_dir: Path) -> Any:
    manifest = base_dir / "runtimes" / SERVING_RUNTIME / MANIFEST
    document = yaml().load(manifest.read_text())
    return copy.deepcopy(document["spec"]["predictors"][0])


def _pinned(predictor: Any, image_name: str, release: Release, role: str, strategy: Strategy):
    pinned = copy.deepcopy(predictor)
    digest = release.digests.get("serve")
    container = _model_container(pinned)
    container["image"] = f"{image_name}@{digest}" if digest else f"{image_name}:{release.image_tag}"
    env = container.setdefault("env", [])
    # Each predictor's own version and digest, over the ConfigMap's (production's).
    env[:] = [e for e in env if e.get("name") not in ("MODEL_VERSION", "MODEL_DIGEST")]
    env[:0] = [{"name": "MODEL_VERSION", "value": release.model_version},
               {"name": "MODEL_DIGEST", "value": release.model_digest or ""}]  # fmt: skip
    annotations = pinned.setdefault("annotations", {})
    annotations.pop(DIGEST_ANNOTATION, None)
    if release.model_digest:
        annotations[DIGEST_ANNOTATION] = release.model_digest
    pinned["labels"] = {
        ROLE_LABEL: role,
        VERSION_LABEL: release.model_version,
        TAG_LABEL: release.image_tag,
        STRATEGY_LABEL: strategy.name,
    }
    return pinned


def start(platform_root: Path, strategy: Strategy, stable: Release, candidate: Release) -> None:
    """The patch with both predictors (production's base for the default, staging's for the
    candidate), the candidate's drift service, and the overlay listing them."""
    target = overlay_dir(platform_root, "production")
    staging_base = overlay_dir(platform_root, "staging") / "base"
    image = base_images(target / "base")["serve"]
    default = _pinned(_base_predictor(target / "base"), image, stable, "stable", strategy)
    added = _pinned(_base_predictor(staging_base), image, candidate, CANDIDATE, strategy)
    for predictor, name in ((default, STABLE), (added, CANDIDATE)):
        predictor["name"] = name
        # The predictor's name in its request logs and metrics (`predictor` label).
        _model_container(predictor)["env"].insert(0, {"name": "PREDICTOR_ID", "value": name})
    added["replicas"] = 1
    added.pop("traffic", None)
    if strategy.name == "shadow":
        default["traffic"] = 100
        added["shadow"] = True
    else:
        default["traffic"] = 100 - strategy.traffic
        added["traffic"] = strategy.traffic
    patch = {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": MODEL_NAME},
        "spec": {"predictors": [default, added]},
    }
    header = (
        f"# Rollout of {MODEL_NAME} in production: {strategy.describe()}.\n"
        "# Written by `open-promotion --strategy`; ended by a pull request from\n"
        "# `open-promotion --finish` (the candidate replaces the default) or `--abort`.\n"
    )
    writer = yaml()
    (target / ROLLOUT_PATCH).write_text(header + dump(writer, patch))
    drift = _candidate_drift(target / "base", candidate)
    if drift:
        text = "---\n".join(dump(writer, d) for d in drift)
        note = f"# The drift service of the rollout's candidate, version {candidate.model_version}"
        (target / DRIFT).write_text(f"{note}.\n{text}")
    _edit_kustomization(target, add_patch=True, serve_image=None, drift=bool(drift))


def _candidate_drift(base_dir: Path, candidate: Release) -> list:
    """A Deployment and a Service like the default drift service's, for the candidate's
    version: own consumer group, own pods (the default's selectors do not match them), and
    a Service labelled like the default's so the same ServiceMonitor scrapes it."""
    source = base_dir / "drift-service.yaml"
    if not source.exists():
        return []
    documents = {d["kind"]: d for d in yaml().load_all(source.read_text())}
    name = f"{MODEL_NAME}-{DRIFT_COMPONENT}"
    deployment = copy.deepcopy(documents["Deployment"])
    deployment["metadata"]["name"] = name
    deployment["metadata"]["labels"]["app.kubernetes.io/component"] = DRIFT_COMPONENT
    deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = DRIFT_COMPONENT
    template = deployment["spec"]["template"]
    template["metadata"]["labels"]["app.kubernetes.io/component"] = DRIFT_COMPONENT
    container = template["spec"]["containers"][0]
    container["image"] = base_images(base_dir)["drift"]  # retagged like the default's
    container["env"][:0] = [
        {"name": "MODEL_VERSION", "value": candidate.model_version},
        {"name": "MODEL_DIGEST", "value": candidate.model_digest or ""},
        {"name": "DRIFT_CONSUMER_GROUP", "value": kafka_names("production").candidate_group},
    ]
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


def end(platform_root: Path, restore: Release | None) -> None:
    """Unlist and delete the patch and the candidate's drift service; pin the serving image
    of `restore` again (None: the overlay is rendered anew next)."""
    target = overlay_dir(platform_root, "production")
    _edit_kustomization(target, add_patch=False, serve_image=restore)
    (target / ROLLOUT_PATCH).unlink()
    (target / DRIFT).unlink(missing_ok=True)


def _edit_kustomization(
    target: Path, add_patch: bool, serve_image: Release | None, drift: bool = False
) -> None:
    """List or unlist the patch (and the candidate's drift service); drop the serving image
    pin (in the patch while rolling out) or restore it from `serve_image`."""
    writer = yaml()
    path = target / "kustomization.yaml"
    document = writer.load(path.read_text())
    resources = document["resources"]
    resources[:] = [r for r in resources if r != DRIFT]
    if drift:
        resources.append(DRIFT)
    patches = document.get("patches") or []
    patches = [p for p in patches if p.get("path") != ROLLOUT_PATCH]
    if add_patch:
        patches.append({"path": ROLLOUT_PATCH})
    if patches:
        document["patches"] = patches
    elif "patches" in document:
        del document["patches"]
    name = base_images(target / "base")["serve"]
    images = document.get("images") or []
    images[:] = [i for i in images if i.get("name") != name]
    if serve_image is not None:
        entry = {"name": name, "newTag": serve_image.image_tag}
        if "serve" in serve_image.digests:
            entry["digest"] = serve_image.digests["serve"]
        images.insert(0, entry)
    document["images"] = images
    path.write_text(dump(writer, document))
