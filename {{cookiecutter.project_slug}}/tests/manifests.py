"""This repo's manifests as Argo CD renders them (`kubectl kustomize`), and their strict
validation: built-in kinds against the Kubernetes API schemas (kubernetes-validate, strict:
unknown fields fail), custom resources against our strict schemas in tests/schemas/, and the
pod specs inside the model server's resource against the Kubernetes PodSpec schema.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from {{ cookiecutter.package_name }}.delivery import overlay, release

REPO = Path(__file__).resolve().parents[1]
KUBERNETES_VERSION = "1.32"
CUSTOM_SCHEMAS = {
    "SeldonDeployment": "seldondeployment.schema.json",
    "InferenceService": "inferenceservice.schema.json",
    "ServiceMonitor": "servicemonitor.schema.json",
    "PrometheusRule": "prometheusrule.schema.json",
    "PodMonitor": "podmonitor.schema.json",
    "AlertmanagerConfig": "alertmanagerconfig.schema.json",
}


def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def schema(kind: str) -> dict:
    return json.loads((REPO / "tests" / "schemas" / CUSTOM_SCHEMAS[kind]).read_text())


def pod_specs(document: dict) -> list[dict]:
    """The Kubernetes pod specs inside a model server resource."""
    if document["kind"] == "SeldonDeployment":
        return [component["spec"] for predictor in document["spec"]["predictors"]
                for component in predictor["componentSpecs"]]  # fmt: skip
    if document["kind"] == "InferenceService":  # the predictor inlines a PodSpec
        extension = set(schema("InferenceService")["x-component-extension"])
        predictor = document["spec"]["predictor"]
        return [{k: v for k, v in predictor.items() if k not in extension}]
    return []


def validate(document: dict) -> None:
    kind = document["kind"]
    if kind in CUSTOM_SCHEMAS:
        jsonschema.validate(document, schema(kind))
        for spec in pod_specs(document):
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": spec}
            kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    else:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def rendered_environments(tmp_path: Path) -> dict[str, list[dict]]:
    """k8s/base, and a staging and a production overlay as CI writes them."""
    pinned = release.Release("0123456789abcdef", "7", {"serve": "sha256:" + "a" * 64})
    overlay.render(tmp_path, "staging", pinned)
    overlay.promote(tmp_path, "staging", "production")
    return {
        "base": kustomize(REPO / "k8s" / "base"),
        "staging": kustomize(release.overlay_dir(tmp_path, "staging")),
        "production": kustomize(release.overlay_dir(tmp_path, "production")),
    }
