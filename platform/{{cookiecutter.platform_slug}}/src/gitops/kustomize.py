"""Render a Kustomize directory the way Argo CD does (`kubectl kustomize`, same kustomize)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from . import PlatformError


def build(directory: Path, namespace: str | None = None) -> list[dict]:
    """The documents `directory` renders to; `namespace` as an Application's kustomize.namespace.

    Argo CD applies `spec.source.kustomize.namespace` by setting the kustomization's
    `namespace:` in its own copy of the directory before building; so does this.
    """
    if not (directory / "kustomization.yaml").is_file():
        raise PlatformError(f"{directory}: no kustomization.yaml")
    if namespace is None:
        return _kubectl_kustomize(directory)
    with tempfile.TemporaryDirectory(prefix="kustomize-") as scratch:
        copy = Path(scratch) / directory.name
        shutil.copytree(directory, copy)
        kustomization = copy / "kustomization.yaml"
        document = yaml.safe_load(kustomization.read_text()) or {}
        document["namespace"] = namespace
        kustomization.write_text(yaml.safe_dump(document, sort_keys=False))
        return _kubectl_kustomize(copy, shown_as=directory)


def _kubectl_kustomize(directory: Path, shown_as: Path | None = None) -> list[dict]:
    try:
        result = subprocess.run(
            ["kubectl", "kustomize", str(directory)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise PlatformError(
            "kubectl is not on PATH (it renders the Kustomize directories)"
        ) from None
    if result.returncode != 0:
        shown = shown_as or directory
        raise PlatformError(f"{shown}: kustomize failed: {result.stderr.strip()}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def dump(documents: list[dict]) -> str:
    """Documents as one stable YAML stream (sorted by kind, namespace and name)."""
    ordered = sorted(
        documents,
        key=lambda d: (
            d.get("kind", ""),
            d.get("metadata", {}).get("namespace", ""),
            d.get("metadata", {}).get("name", ""),
        ),
    )
    return "---\n".join(yaml.safe_dump(d, sort_keys=True) for d in ordered)
