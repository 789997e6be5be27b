"""Rollouts on KServe: a `canary` entry of the InferenceService, in the production overlay.

KServe (0.21, Standard mode) runs each entry of an InferenceService's `spec.canary` as a
Deployment and a Service of its own (`<model>-candidate-predictor`), and the HTTPRoute it
writes on the platform's Gateway splits the traffic between the predictor and the entries by
their `trafficPercent`. A rollout leaves production's predictor exactly as it is (the
overlay's image and MODEL_VERSION, the ServingRuntime) and adds staging's release as the
entry `candidate` (`rollout.yaml`, a patch the production overlay lists): KServe merges the
entry over a copy of the predictor, so it sets only what differs, its name, labels, fixed
replicas, and in its `model` the candidate's image (by digest when known) and MODEL_VERSION.
The entry's pods run production's ServingRuntime with the candidate's image: a change to
the runtime's manifest itself reaches production by a replace (`start` refuses a gradual
rollout when staging's runtime differs from production's).

Production's floor of pods holds through a rollout: once the candidate's pods are ready,
KServe lowers the predictor's minReplicas by the candidate's replicas (it counts them as
taking the predictor's share), which would leave production on one pod that the shared
PodDisruptionBudget lets a node drain take. The patch raises the predictor's minReplicas by
the candidate's replicas, so production keeps the floor its base sets.

- `canary N` and `ab N`: trafficPercent N, the Gateway sends the rest to production's pods.
- `shadow`: trafficPercent 0, and production's predictor copies each request it answers to
  the candidate's Service (MIRROR_URL, read by the server: runtimes/mlserver/mirror.py). Why
  not a Gateway API RequestMirror: KServe owns the HTTPRoute of an InferenceService and
  rewrites it on every reconcile, so a mirror filter cannot live there, and a second route
  would have to repeat the hostnames KServe derives from the platform's ingress settings.
  The server's copy reaches the candidate whatever path a request took (the Gateway or the
  predictor's Service), and never delays or fails the answer.

Production's predictor needs no pin: its pods keep running through a canary and an abort
(a shadow adds MIRROR_URL to them, so they restart once at its start and its end).
The candidate also gets its own drift service (`delivery/candidate.py`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ...delivery import candidate as rollout_files
from ...delivery.candidate import ROLE_LABEL, STRATEGY_LABEL
from ...delivery.release import (
    CANDIDATE,
    ROLLOUT_PATCH,
    Release,
    base_images,
    dump,
    namespace,
    overlay_dir,
    overlay_release,
    yaml,
)
from ...delivery.rollout import Rollout, Strategy
from ...settings import MODEL_NAME, SERVING_RUNTIME
from . import protocol

# Where production's predictor copies requests during a shadow rollout: the Service KServe
# creates for the candidate entry (port 80 leads to the container's HTTP port).
MIRROR_ENV = "MIRROR_URL"
CANDIDATE_SERVICE = f"{MODEL_NAME}-{CANDIDATE}-predictor"


def mirror_url() -> str:
    host = f"{CANDIDATE_SERVICE}.{namespace('production')}.svc.cluster.local"
    return f"http://{host}:80{protocol.PREDICT_PATH}"


def read(platform_root: Path) -> Rollout:
    """The rollout of the production overlay's patch: the candidate entry's labels and image,
    and production's release from the overlay (which a rollout leaves as it is)."""
    target = overlay_dir(platform_root, "production")
    patch = yaml().load((target / ROLLOUT_PATCH).read_text())
    entry = next(e for e in patch["spec"]["canary"]
                 if e["predictor"]["labels"][ROLE_LABEL] == CANDIDATE)  # fmt: skip
    predictor = entry["predictor"]
    name = predictor["labels"][STRATEGY_LABEL]
    strategy = Strategy(name, int(entry["trafficPercent"]) if name != "shadow" else None)
    candidate = rollout_files.release_of(
        predictor["labels"], predictor.get("annotations"), predictor["model"]["image"]
    )
    return Rollout(strategy, overlay_release(target), candidate)


def _base_predictor(base_dir: Path) -> Any:
    manifest = base_dir / "runtimes" / SERVING_RUNTIME / protocol.MANIFEST
    return yaml().load(manifest.read_text())["spec"]["predictor"]


def candidate_replicas(stable_replicas: int, strategy: Strategy) -> int:
    """The candidate's fixed replicas (KServe refuses autoscaling on an entry): its share of
    production's floor, rounded up; a shadow receives a copy of every request, so as many
    as production's floor."""
    share = 100 if strategy.name == "shadow" else (strategy.traffic or 0)
    return max(1, math.ceil(stable_replicas * share / 100))


def start(platform_root: Path, strategy: Strategy, stable: Release, candidate: Release) -> None:
    """The patch with the candidate entry (and, for a shadow, production's mirror), the
    candidate's drift service, and the overlay listing them. `stable` stays as the overlay
    pins it."""
    target = overlay_dir(platform_root, "production")
    image = base_images(target / "base")["serve"]
    stable_predictor = _base_predictor(target / "base")
    model = stable_predictor["model"]
    stable_replicas = int(stable_predictor.get("minReplicas", 1))
    replicas = candidate_replicas(stable_replicas, strategy)
    predictor: dict[str, Any] = {
        "name": CANDIDATE,
        "minReplicas": replicas,
        "labels": rollout_files.labels(candidate, CANDIDATE, strategy.name),
        "model": {
            "modelFormat": dict(model["modelFormat"]),
            "runtime": model["runtime"],
            "protocolVersion": model["protocolVersion"],
            "image": rollout_files.pinned_image(image, candidate),
            # The entry's list replaces the predictor's: production's mirror is not copied.
            "env": rollout_files.release_env(candidate, CANDIDATE),
        },
    }
    if candidate.model_digest:
        predictor["annotations"] = {rollout_files.DIGEST_ANNOTATION: candidate.model_digest}
    # KServe subtracts the ready candidate's replicas from this floor (see the docstring).
    production: dict[str, Any] = {"minReplicas": stable_replicas + replicas}
    ceiling = stable_predictor.get("maxReplicas")
    if ceiling is not None and int(ceiling) < production["minReplicas"]:
        production["maxReplicas"] = production["minReplicas"]  # an HPA's ceiling >= its floor
    if strategy.name == "shadow":
        production["model"] = {"env": [{"name": MIRROR_ENV, "value": mirror_url()}]}
    spec: dict[str, Any] = {
        "predictor": production,
        "canary": [{"trafficPercent": strategy.traffic or 0, "predictor": predictor}],
    }
    patch = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": MODEL_NAME},
        "spec": spec,
    }
    header = (
        f"# Rollout of {MODEL_NAME} in production: {strategy.describe()}.\n"
        "# Written by `open-promotion --strategy`; ended by a pull request from\n"
        "# `open-promotion --finish` (the candidate replaces production) or `--abort`.\n"
    )
    (target / ROLLOUT_PATCH).write_text(header + dump(yaml(), patch))
    drift = rollout_files.write_drift(target, candidate)
    rollout_files.list_in_overlay(target, drift=drift)


def end(platform_root: Path, restore: Release | None) -> None:
    """Unlist and delete the patch and the candidate's drift service. Production's release
    never left the overlay: there is nothing to restore."""
    del restore
    rollout_files.unlist_from_overlay(overlay_dir(platform_root, "production"))
