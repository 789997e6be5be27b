"""How a promotion reaches production: replace, canary, shadow or A/B, chosen per promotion.

`replace` (the default) makes production run what staging runs. The other strategies keep
production's version as the `default` predictor and add staging's as a `candidate` predictor
of the same SeldonDeployment, in `rollout.yaml`, a patch the production overlay lists:

- `canary N`: the candidate answers N % of the requests (1-99), the default the rest;
- `ab N`: the same split, kept until both have served enough to compare (`compare-predictors`);
- `shadow`: the candidate gets a copy of every request; its answers are discarded.

Each predictor is pinned to its own image and model version (MODEL_VERSION in its pods) and
labelled with its role and version, so metrics, request logs and the registry tell them
apart. Finishing makes the candidate production's only predictor; aborting removes it. Both,
like starting, are pull requests. While a rollout runs the serving image is pinned inside
the patch: the overlay's `images:` entry would otherwise retag both predictors alike. A
model with drift detection also gets a second drift service for the candidate's version
(`rollout-drift.yaml`), so drift metrics, labelled by version, follow each predictor.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from ..settings import MODEL_NAME, SERVING_RUNTIME
from . import DeliveryError, overlay
from .release import (
    CANDIDATE,
    ROLE_LABEL,
    ROLLOUT_PATCH,
    STABLE,
    STRATEGY_LABEL,
    TAG_LABEL,
    VERSION_LABEL,
    Release,
    base_images,
    dump,
    model_container,
    overlay_dir,
    predictor_release,
    read_release,
    rollout_predictors,
    yaml,
)

STRATEGIES = ("replace", "canary", "shadow", "ab")
# The candidate's own drift service (when the model has one): a Deployment and a Service
# beside the default's, watching the candidate's version (the request log carries both).
DRIFT = "rollout-drift.yaml"
DRIFT_COMPONENT = "drift-candidate"


@dataclass(frozen=True)
class Strategy:
    name: str = "replace"
    traffic: int | None = None  # the candidate's share, canary and ab only

    def __post_init__(self) -> None:
        if self.name not in STRATEGIES:
            raise DeliveryError(f"strategy {self.name!r}: must be one of {', '.join(STRATEGIES)}")
        from ..runtimes import protocol

        if self.name not in protocol.ROLLOUT_STRATEGIES:
            raise DeliveryError(
                f"strategy {self.name!r}: {protocol.ROLLOUT_REFUSAL}; promote with --strategy "
                f"{' or '.join(protocol.ROLLOUT_STRATEGIES)}"
            )
        if self.name in ("canary", "ab"):
            if self.traffic is None or not 1 <= self.traffic <= 99:
                raise DeliveryError(
                    f"{self.name} needs --traffic, the candidate's share in percent from 1 to "
                    f"99 (got {self.traffic})"
                )
        elif self.traffic is not None:
            raise DeliveryError(f"--traffic is for canary and ab, not {self.name}")

    def describe(self) -> str:
        return {
            "replace": "replace",
            "canary": f"canary, {self.traffic} % of the traffic to the candidate",
            "ab": f"A/B test, {100 - (self.traffic or 0)}/{self.traffic} %",
            "shadow": "shadow: the candidate gets a copy of every request",
        }[self.name]


@dataclass(frozen=True)
class Rollout:
    strategy: Strategy
    stable: Release
    candidate: Release


def patch_path(platform_root: Path) -> Path:
    return overlay_dir(platform_root, "production") / ROLLOUT_PATCH


def current(platform_root: Path) -> Rollout | None:
    """The rollout production runs, or None."""
    predictors = rollout_predictors(overlay_dir(platform_root, "production"))
    if predictors is None:
        return None
    candidate = predictors[CANDIDATE]
    traffic = candidate.get("traffic")
    strategy = Strategy(candidate["labels"][STRATEGY_LABEL], int(traffic) if traffic else None)
    return Rollout(strategy, predictor_release(predictors["stable"]), predictor_release(candidate))


def _base_predictor(base_dir: Path):
    from ..runtimes import protocol

    manifest = base_dir / "runtimes" / SERVING_RUNTIME / protocol.MANIFEST
    document = yaml().load(manifest.read_text())
    return copy.deepcopy(document["spec"]["predictors"][0])


def _pinned(predictor, image_name: str, release: Release, role: str, strategy: Strategy):
    pinned = copy.deepcopy(predictor)
    digest = release.digests.get("serve")
    container = model_container(pinned)
    container["image"] = f"{image_name}@{digest}" if digest else f"{image_name}:{release.image_tag}"
    env = container.setdefault("env", [])
    env[:] = [e for e in env if e.get("name") != "MODEL_VERSION"]
    env.insert(0, {"name": "MODEL_VERSION", "value": release.model_version})
    pinned["labels"] = {
        ROLE_LABEL: role,
        VERSION_LABEL: release.model_version,
        TAG_LABEL: release.image_tag,
        STRATEGY_LABEL: strategy.name,
    }
    return pinned


def start(platform_root: Path, strategy: Strategy) -> Rollout | None:
    """Start `strategy` with staging's release as the candidate; None for replace."""
    running = current(platform_root)
    if running is not None:
        raise DeliveryError(
            f"a {running.strategy.name} rollout of version {running.candidate.model_version} "
            "runs in production: finish or abort it first (--finish / --abort)"
        )
    staging = read_release(platform_root, "staging")
    if staging is None:
        raise DeliveryError("nothing to promote: staging has no overlay yet")
    if strategy.name == "replace":
        overlay.promote(platform_root, "staging", "production")
        return None
    production = read_release(platform_root, "production")
    if production is None:
        raise DeliveryError(
            f"a {strategy.name} rollout needs a version already in production: the first "
            "promotion is a replace"
        )
    if production.model_version == staging.model_version:
        raise DeliveryError(f"production already runs version {staging.model_version}")
    target = overlay_dir(platform_root, "production")
    staging_base = overlay_dir(platform_root, "staging") / "base"
    image = base_images(target / "base")["serve"]
    stable = _pinned(_base_predictor(target / "base"), image, production, "stable", strategy)
    candidate = _pinned(_base_predictor(staging_base), image, staging, CANDIDATE, strategy)
    for predictor, name in ((stable, STABLE), (candidate, CANDIDATE)):
        predictor["name"] = name
        # The predictor's name in its request logs and metrics (`predictor` label).
        model_container(predictor)["env"].insert(0, {"name": "PREDICTOR_ID", "value": name})
    candidate["replicas"] = 1
    candidate.pop("traffic", None)
    if strategy.name == "shadow":
        stable["traffic"] = 100
        candidate["shadow"] = True
    else:
        stable["traffic"] = 100 - strategy.traffic
        candidate["traffic"] = strategy.traffic
    patch = {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": MODEL_NAME},
        "spec": {"predictors": [stable, candidate]},
    }
    header = (
        f"# Rollout of {MODEL_NAME} in production: {strategy.describe()}.\n"
        "# Written by `open-promotion --strategy`; ended by a pull request from\n"
        "# `open-promotion --finish` (the candidate replaces the default) or `--abort`.\n"
    )
    writer = yaml()
    (target / ROLLOUT_PATCH).write_text(header + dump(writer, patch))
    drift = _candidate_drift(target / "base", staging)
    if drift:
        text = "---\n".join(dump(writer, d) for d in drift)
        note = f"# The drift service of the rollout's candidate, version {staging.model_version}.\n"
        (target / DRIFT).write_text(note + text)
    _edit_kustomization(target, add_patch=True, serve_image=None, drift=bool(drift))
    return Rollout(strategy, production, staging)


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
        {"name": "DRIFT_CONSUMER_GROUP", "value": name},
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


def finish(platform_root: Path) -> Rollout:
    """Production runs the candidate alone (on the base staging built it with)."""
    running = _running(platform_root, "finish")
    staging = read_release(platform_root, "staging")
    if staging is None or staging.model_version != running.candidate.model_version:
        raise DeliveryError(
            f"staging no longer runs the candidate (version {running.candidate.model_version}): "
            "abort this rollout and promote staging's version instead"
        )
    _remove_patch(platform_root)
    staging_base = overlay_dir(platform_root, "staging") / "base"
    overlay.render(platform_root, "production", running.candidate, staging_base)
    return running


def abort(platform_root: Path) -> Rollout:
    """Production runs its default predictor alone again, as before the rollout."""
    running = _running(platform_root, "abort")
    _remove_patch(platform_root)
    target = overlay_dir(platform_root, "production")
    _edit_kustomization(target, add_patch=False, serve_image=running.stable)
    return running


def _running(platform_root: Path, action: str) -> Rollout:
    running = current(platform_root)
    if running is None:
        raise DeliveryError(f"no rollout runs in production: nothing to {action}")
    return running


def _remove_patch(platform_root: Path) -> None:
    target = overlay_dir(platform_root, "production")
    _edit_kustomization(target, add_patch=False, serve_image=None)
    patch_path(platform_root).unlink()
    (target / DRIFT).unlink(missing_ok=True)


def _edit_kustomization(
    target: Path, add_patch: bool, serve_image: Release | None, drift: bool = False
):
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
