"""Rollouts on Seldon Core: two predictors of one SeldonDeployment, in the production overlay.

Every runtime on Seldon Core 1 rolls out this way: its `rollout.py` is this module. Nothing
here depends on the server the pods run.

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
drift service for the candidate's version (`delivery/candidate.py`, shared by every runtime),
so drift metrics, labelled by version, follow each predictor.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ...delivery import candidate as rollout_files
from ...delivery.candidate import ROLE_LABEL, STRATEGY_LABEL
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
from ...settings import MODEL_NAME, SERVING_RUNTIME
from .. import protocol


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
    image = _model_container(predictor)["image"]
    return rollout_files.release_of(predictor["labels"], predictor.get("annotations"), image)


def _model_container(predictor: Any) -> Any:
    return predictor["componentSpecs"][0]["spec"]["containers"][0]


def _base_predictor(base_dir: Path) -> Any:
    manifest = base_dir / "runtimes" / SERVING_RUNTIME / protocol.MANIFEST
    document = yaml().load(manifest.read_text())
    return copy.deepcopy(document["spec"]["predictors"][0])


def _pinned(predictor: Any, image_name: str, release: Release, role: str, name: str,
            strategy: Strategy) -> Any:  # fmt: skip
    pinned = copy.deepcopy(predictor)
    pinned["name"] = name
    container = _model_container(pinned)
    container["image"] = rollout_files.pinned_image(image_name, release)
    env = container.setdefault("env", [])
    own = rollout_files.release_env(release, name)
    env[:] = own + [e for e in env if e.get("name") not in {o["name"] for o in own}]
    annotations = pinned.setdefault("annotations", {})
    annotations.pop(rollout_files.DIGEST_ANNOTATION, None)
    if release.model_digest:
        annotations[rollout_files.DIGEST_ANNOTATION] = release.model_digest
    pinned["labels"] = rollout_files.labels(release, role, strategy.name)
    return pinned


def start(platform_root: Path, strategy: Strategy, stable: Release, candidate: Release) -> None:
    """The patch with both predictors (production's base for the default, staging's for the
    candidate), the candidate's drift service, and the overlay listing them."""
    target = overlay_dir(platform_root, "production")
    staging_base = overlay_dir(platform_root, "staging") / "base"
    image = base_images(target / "base")["serve"]
    default = _pinned(_base_predictor(target / "base"), image, stable, "stable", STABLE, strategy)
    added = _pinned(_base_predictor(staging_base), image, candidate, CANDIDATE, CANDIDATE,
                    strategy)  # fmt: skip
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
    (target / ROLLOUT_PATCH).write_text(header + dump(yaml(), patch))
    drift = rollout_files.write_drift(target, candidate)
    rollout_files.list_in_overlay(target, drift=drift)
    # Both predictors are pinned in the patch: the overlay's image entry would retag both.
    rollout_files.pin_serve_image(target, None)


def end(platform_root: Path, restore: Release | None) -> None:
    """Unlist and delete the patch and the candidate's drift service; pin the serving image
    of `restore` again (None: the overlay is rendered anew next)."""
    target = overlay_dir(platform_root, "production")
    rollout_files.unlist_from_overlay(target)
    rollout_files.pin_serve_image(target, restore)
