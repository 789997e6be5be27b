"""This repo's manifests as Argo CD renders them (`kubectl kustomize`), and their strict
validation: built-in kinds against the Kubernetes API schemas (kubernetes-validate, strict:
unknown fields fail), custom resources against our strict schemas (tests/schemas/; the
serving runtime's beside its tests), and the pod specs inside the model server's resource
against the Kubernetes PodSpec schema.
"""

from __future__ import annotations

import functools
import json
import subprocess
from importlib import import_module
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from {{ cookiecutter.package_name }}.delivery import contract, kafka, overlay, release
from {{ cookiecutter.package_name }}.settings import (
    MODEL_NAME,
{%- if cookiecutter.include_drift_detection %}
    RETRAIN_TOKEN_SECRET,
{%- endif %}
    SERVING_RUNTIME,
)

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.32"
ENVIRONMENTS = ("staging", "production")
# What this repo's serving runtime adds: its resource kind, schema and pod specs.
RUNTIME = import_module(f"..runtimes.{SERVING_RUNTIME}.manifest", __package__)
CUSTOM_SCHEMAS = {
    **RUNTIME.SCHEMAS,
    "ServiceMonitor": "servicemonitor.schema.json",
    "PrometheusRule": "prometheusrule.schema.json",
    "PodMonitor": "podmonitor.schema.json",
    "AlertmanagerConfig": "alertmanagerconfig.schema.json",
    "ExternalSecret": "externalsecret.schema.json",
    "KafkaTopic": "kafkatopic.schema.json",
    "KafkaUser": "kafkauser.schema.json",
}


def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@functools.cache  # read once per session: every rendered document is validated with it
def schema(kind: str) -> dict:
    return json.loads((REPO / "tests" / "schemas" / CUSTOM_SCHEMAS[kind]).read_text())


def pod_specs(document: dict) -> list[dict]:
    """The Kubernetes pod specs inside the serving runtime's resources."""
    return RUNTIME.pod_specs(document) if document["kind"] in RUNTIME.SCHEMAS else []


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
    """k8s/base, and a staging and a production overlay as CI writes them, each with its
    part of the Kafka cluster (its topic and users, in the Kafka namespace)."""
    pinned = release.Release("0123456789abcdef", "7", {"serve": "sha256:" + "a" * 64})
    overlay.render(tmp_path, "staging", pinned)
    overlay.promote(tmp_path, "staging", "production")
    rendered = {"base": kustomize(REPO / "k8s" / "base")}
    for environment in ("staging", "production"):
        directory = release.overlay_dir(tmp_path, environment)
        rendered[environment] = kustomize(directory) + kustomize(directory / kafka.KAFKA_DIR)
    return rendered


def platform_contract(documents: list[dict]) -> contract.Contract:
    """The shared services this repo's ConfigMap points at, and restricted namespaces."""
    services: dict[tuple[str, str], set[int]] = {}
    for document in documents:
        if document["kind"] == "ConfigMap" and document["metadata"]["name"].startswith(
            f"{MODEL_NAME}-config"
        ):
            for value in document["data"].values():
                for match in contract.ADDRESS.finditer(value):
                    services.setdefault((match.group(2), match.group(1)), set()).update(
                        {int(match.group(3))} if match.group(3) else set()
                    )
    levels = {release.namespace(environment): "restricted" for environment in ENVIRONMENTS}
    return contract.Contract(services=services, pod_security=levels, secrets=HAND_MADE_SECRETS,
                             model_namespaces=set(levels))  # fmt: skip


# Secrets no file of this repo renders: the retrain token, created once by a person (README),
# and the Prefect API's credentials and MLflow's login, from the platform's ExternalSecrets in
# each namespace.
HAND_MADE_SECRETS = {
    *(
        (release.namespace(environment), name)
        for environment in ENVIRONMENTS
        for name in ("prefect-credentials", "mlflow-login")
    ),
{%- if cookiecutter.include_drift_detection %}
    (release.namespace("production"), RETRAIN_TOKEN_SECRET),
{%- endif %}
}
