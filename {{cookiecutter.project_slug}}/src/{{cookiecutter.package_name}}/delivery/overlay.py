"""This model's Kustomize overlays in the platform repo: `models/<model>/<environment>/`.

Each environment directory holds `base/` (a copy of this repo's `k8s/base` at the built
commit, so what runs is reviewable in the platform repo and renders offline) and a
`kustomization.yaml` that pins the images and the model version. Edits are structured
(ruamel.yaml round-trip): comments and anything a platform engineer added by hand, such as
patches, survive every CI run. Writing the same release twice changes nothing.
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from ..settings import MODEL_NAME
from . import DeliveryError, kafka
from .release import (
    Release,
    base_images,
    dump,
    environment_alias,
    namespace,
    overlay_dir,
    read_release,
    yaml,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
# Kustomize components of k8s/base that one environment only includes, where the base has
# them: retraining on drift is decided by production's traffic (k8s/base/retrain/).
ENVIRONMENT_PARTS = {"staging": (), "production": ("retrain",)}

NEW_OVERLAY = f"""\
# {MODEL_NAME} in %(environment)s. Written by the model repo's CI (`render-overlay`):
# change images and the model version through that pipeline or a promotion pull request.
# Other edits (patches, replicas, ...) are kept by every later CI run.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: %(namespace)s
resources:
  - base
  - kafka-logins.yaml
images: []
configMapGenerator:
  - name: {MODEL_NAME}-config
    behavior: merge
    literals: []
"""


def render(
    platform_root: Path, environment: str, release: Release, base_dir: Path | None = None
) -> bool:
    """Write the overlay for `environment`; True if anything changed on disk."""
    alias = environment_alias(environment)
    base_dir = base_dir or REPO_ROOT / "k8s" / "base"
    if not (base_dir / "kustomization.yaml").exists():
        raise DeliveryError(f"{base_dir}: no kustomization.yaml (the model repo's k8s/base)")
    target = overlay_dir(platform_root, environment)
    kustomization = target / "kustomization.yaml"
    writer = yaml()
    text = (
        kustomization.read_text()
        if kustomization.exists()
        else NEW_OVERLAY % {"environment": environment, "namespace": namespace(environment)}
    )
    document = writer.load(text)
    # The namespace the platform deploys the environment into (Argo CD sets the same): the
    # overlay renders alike with and without it, components' references included.
    document["namespace"] = namespace(environment)
    _set_images(document, base_images(base_dir), release)
    # MODEL_DIGEST empty: nothing pinned (the server then loads the version unverified).
    _set_literals(document, {"MODEL_VERSION": release.model_version,
                             "MODEL_DIGEST": release.model_digest or "",
                             "MODEL_ALIAS": alias,
                             **kafka.config_literals(environment)})  # fmt: skip
    _set_resources(document, ["base", kafka.LOGINS_FILE])
    _set_parts(document, [p for p in ENVIRONMENT_PARTS[environment]
                          if (base_dir / p / "kustomization.yaml").exists()])  # fmt: skip
    rendered = dump(writer, document)

    changed = _sync_tree(base_dir, target / "base")
    changed = kafka.write(platform_root, environment) or changed
    if not kustomization.exists() or kustomization.read_text() != rendered:
        kustomization.write_text(rendered)
        changed = True
    return changed


def promote(platform_root: Path, source: str, target: str) -> bool:
    """Make `target` run exactly what `source` runs (same base, images, model version)."""
    release = read_release(platform_root, source)
    if release is None:
        raise DeliveryError(
            f"nothing to promote: {overlay_dir(platform_root, source)} has no overlay yet"
        )
    return render(platform_root, target, release, overlay_dir(platform_root, source) / "base")


def _set_images(document, names: dict[str, str], release: Release) -> None:
    images = document.get("images")
    if images is None:
        document["images"] = images = []
    for component, name in names.items():
        entry = next((i for i in images if i.get("name") == name), None)
        if entry is None:
            images.append(entry := {"name": name})
        entry["newTag"] = release.image_tag
        if component in release.digests:
            entry["digest"] = release.digests[component]
        elif "digest" in entry:  # a digest of an older build would override the new tag
            del entry["digest"]


def _set_literals(document, values: dict[str, str]) -> None:
    generators = document.get("configMapGenerator")
    if generators is None:
        document["configMapGenerator"] = generators = []
    name = f"{MODEL_NAME}-config"
    generator = next((g for g in generators if g.get("name") == name), None)
    if generator is None:
        generators.append(generator := {"name": name, "behavior": "merge", "literals": []})
    literals = generator.get("literals")
    if literals is None:
        generator["literals"] = literals = []
    for key, value in values.items():
        line = f"{key}={value}"
        index = next((i for i, item in enumerate(literals) if item.split("=", 1)[0] == key), None)
        if index is None:
            literals.append(line)
        elif literals[index] != line:
            literals[index] = line


def _set_resources(document, required: list[str]) -> None:
    """`resources:` holds each of `required` (an overlay written before lacks the newer ones);
    anything else listed there is kept."""
    resources = document.get("resources")
    if resources is None:
        document["resources"] = resources = []
    for name in required:
        if name not in resources:
            resources.append(name)


def _set_parts(document, parts: list[str]) -> None:
    """`components:` lists exactly this environment's parts of the base (others are kept)."""
    ours = {f"base/{part}" for each in ENVIRONMENT_PARTS.values() for part in each}
    components = [c for c in document.get("components") or [] if c not in ours]
    components += [f"base/{part}" for part in parts]
    if components:
        document["components"] = components
    elif "components" in document:
        del document["components"]


def _sync_tree(source: Path, target: Path) -> bool:
    """Make `target` an exact copy of `source`; True if anything differed."""
    if target.exists() and _identical(filecmp.dircmp(source, target)):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f"{target.name}.new")  # copy fully, then swap
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(source, staged, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    if target.exists():
        shutil.rmtree(target)
    staged.rename(target)
    return True


def _identical(comparison: filecmp.dircmp) -> bool:
    if comparison.left_only or comparison.right_only or comparison.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(
        comparison.left, comparison.right, comparison.common_files, shallow=False
    )
    if mismatch or errors:
        return False
    return all(_identical(sub) for sub in comparison.subdirs.values())
