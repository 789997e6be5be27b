"""What an environment runs, and the YAML every delivery module reads and writes it with.

A release is an image tag (the commit), a model version and optionally image digests. An
environment's overlay (`models/<model>/<environment>/kustomization.yaml`) pins it in its
`images:` and its ConfigMap literals; while a rollout runs in production, the serving image
is pinned per predictor in the rollout's patch instead (`rollout.py` reads that one). Edits
are ruamel.yaml round-trips: comments, order and quoting survive.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ..settings import (
    CANDIDATE_ALIAS,
    MODEL_NAME,
    NAMESPACE_PREFIX,
    PRODUCTION_ALIAS,
    STAGING_ALIAS,
)
from . import DeliveryError

ENVIRONMENTS = {"staging": STAGING_ALIAS, "production": PRODUCTION_ALIAS}
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# The image names of k8s/base (kustomization `images:`), by component.
COMPONENTS = ("serve", "drift", "train")

# A rollout's two predictors: production's version stays `default`; the candidate is named
# like the registry alias the platform gives its version. Metrics carry these names
# (`predictor` label), so the comparison reads them too.
STABLE, CANDIDATE = "default", CANDIDATE_ALIAS
# A rollout's patch in the production overlay (written by the runtime's rollout module).
ROLLOUT_PATCH = "rollout.yaml"


@dataclass(frozen=True)
class Release:
    """What an environment runs: the image tag (the commit) and the model version."""

    image_tag: str
    model_version: str
    digests: dict[str, str] = field(default_factory=dict)  # component -> sha256:...
    model_digest: str | None = None  # sha256:... of the version's artifacts (MODEL_DIGEST)

    def __post_init__(self) -> None:
        problems = []
        if not IMAGE_TAG.match(self.image_tag):
            problems.append(
                f"image tag {self.image_tag!r}: must be 1-128 of [A-Za-z0-9_.-], "
                "not starting with '.' or '-'"
            )
        if not (self.model_version.isdigit() and int(self.model_version) > 0):
            problems.append(f"model version {self.model_version!r}: must be a positive integer")
        if self.model_digest is not None and not DIGEST.match(self.model_digest):
            problems.append(f"model digest {self.model_digest!r}: must be sha256: and 64 hex "
                            "digits")  # fmt: skip
        for component, digest in self.digests.items():
            if component not in COMPONENTS:
                problems.append(f"digest for {component!r}: components are {', '.join(COMPONENTS)}")
            elif not DIGEST.match(digest):
                problems.append(f"{component} digest {digest!r}: must be sha256: and 64 hex digits")
        if problems:
            raise DeliveryError("; ".join(problems))


@dataclass(frozen=True)
class VersionFacts:
    """What the promotion request says about a model version (from its registry tags)."""

    version: str
    metrics: dict[str, float]
    decision: str | None = None


# -- environments -------------------------------------------------------------------------------
def environment_alias(environment: str) -> str:
    if environment not in ENVIRONMENTS:
        raise DeliveryError(
            f"environment {environment!r}: must be one of {', '.join(ENVIRONMENTS)}"
        )
    return ENVIRONMENTS[environment]


def namespace(environment: str) -> str:
    environment_alias(environment)
    return f"{NAMESPACE_PREFIX}-{environment}"


def overlay_dir(platform_root: Path, environment: str) -> Path:
    environment_alias(environment)
    return platform_root / "models" / MODEL_NAME / environment


# -- YAML ---------------------------------------------------------------------------------------
def yaml() -> YAML:
    """A round-trip YAML reader and writer: keeps comments, order and quoting."""
    document = YAML()
    document.indent(mapping=2, sequence=4, offset=2)
    document.preserve_quotes = True
    return document


def dump(writer: YAML, document: Any) -> str:
    stream = io.StringIO()
    writer.dump(document, stream)
    return stream.getvalue()


def base_images(base_dir: Path) -> dict[str, str]:
    """Component -> full image name, from the `images:` of k8s/base/kustomization.yaml."""
    document = yaml().load((base_dir / "kustomization.yaml").read_text())
    names = {entry["name"]: entry["newName"] for entry in document.get("images", [])}
    images = {}
    for component in COMPONENTS:
        key = MODEL_NAME if component == "serve" else f"{MODEL_NAME}-{component}"
        if key in names:
            images[component] = names[key]
    return images


def base_config(base_dir: Path) -> list[str]:
    """The literals of the base's `<model>-config` ConfigMap: what every workload reads."""
    document = yaml().load((base_dir / "kustomization.yaml").read_text())
    return [str(item) for generator in document.get("configMapGenerator") or []
            if generator.get("name") == f"{MODEL_NAME}-config"
            for item in generator.get("literals") or []]  # fmt: skip


# -- reading what runs --------------------------------------------------------------------------
def read_release(platform_root: Path, environment: str) -> Release | None:
    """The release an environment's overlay pins, or None if it has no overlay yet.

    While a rollout runs, production runs two: `rollout.current` reads them from its patch,
    in the runtime's shape, which this module knows nothing of."""
    directory = overlay_dir(platform_root, environment)
    if not (directory / "kustomization.yaml").exists():
        return None
    if (directory / ROLLOUT_PATCH).exists():
        raise DeliveryError(
            f"{directory}: a rollout runs ({ROLLOUT_PATCH}) and pins a release per "
            "predictor: read them with delivery.rollout.current"
        )
    return overlay_release(directory)


def overlay_release(directory: Path) -> Release:
    """The release an overlay's kustomization pins (its `images:` and ConfigMap literals),
    whatever else it lists: with a rollout, what its default predictor runs where the
    runtime leaves that to the overlay."""
    kustomization = directory / "kustomization.yaml"
    document = yaml().load(kustomization.read_text())
    pinned = {image.get("name"): image for image in document.get("images") or []}
    names = base_images(directory / "base")
    serve = pinned.get(names.get("serve"))
    literals = dict(
        item.split("=", 1)
        for generator in document.get("configMapGenerator") or []
        for item in generator.get("literals") or []
    )
    if serve is None or "MODEL_VERSION" not in literals:
        raise DeliveryError(f"{kustomization}: no image or MODEL_VERSION for {MODEL_NAME}")
    digests = {
        component: str(pinned[name]["digest"])
        for component, name in names.items()
        if name in pinned and pinned[name].get("digest")
    }
    return Release(str(serve["newTag"]), literals["MODEL_VERSION"], digests,
                   literals.get("MODEL_DIGEST") or None)  # fmt: skip
