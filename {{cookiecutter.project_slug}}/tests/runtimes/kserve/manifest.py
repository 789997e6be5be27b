"""What the shared manifest tests need to know about this runtime's model server resources:
an InferenceService whose predictor names a ServingRuntime holding the container."""

from __future__ import annotations

import json
from pathlib import Path

KIND = "InferenceService"
HERE = Path(__file__).parent
SCHEMA = HERE / "inferenceservice.schema.json"
# Every kind of the runtime with its strict schema.
SCHEMAS = {KIND: SCHEMA, "ServingRuntime": HERE / "servingruntime.schema.json"}
# A predictor inlines a pod spec and its model a container, beside fields of their own that
# the schemas list; a ServingRuntime carries pod fields beside its own.
_SCHEMA = json.loads(SCHEMA.read_text())
PREDICTOR_FIELDS = set(_SCHEMA["x-component-extension"])
MODEL_FIELDS = set(_SCHEMA["x-model-extension"])
RUNTIME_FIELDS = set(json.loads(SCHEMAS["ServingRuntime"].read_text())["x-runtime-extension"])
RUNTIME_FIELDS.add("supportedModelFormats")


def pod_specs(document: dict) -> list[dict]:
    """The Kubernetes pod specs a document of the runtime carries, without its own fields: a
    predictor's (and each canary entry's) with its model's container, a ServingRuntime's."""
    if document["kind"] == "ServingRuntime":
        return [{k: v for k, v in document["spec"].items() if k not in RUNTIME_FIELDS}]
    predictors = [document["spec"]["predictor"],
                  *(c["predictor"] for c in document["spec"].get("canary") or [])]  # fmt: skip
    specs = []
    for predictor in predictors:
        spec = {k: v for k, v in predictor.items() if k not in PREDICTOR_FIELDS}
        model = {k: v for k, v in predictor["model"].items() if k not in MODEL_FIELDS}
        spec["containers"] = [{"name": "kserve-container", **model}]
        specs.append(spec)
    return specs


def server_container(documents: list[dict]) -> dict:
    """The model server's container, in place: the ServingRuntime's."""
    runtime = next(d for d in documents if d["kind"] == "ServingRuntime")
    return runtime["spec"]["containers"][0]


def server_pod_fields(documents: list[dict]) -> dict:
    """The model server's pod-level fields, in place: the predictor's."""
    return next(d for d in documents if d["kind"] == KIND)["spec"]["predictor"]


def operator_env(documents: list[dict]) -> dict[str, str]:
    """What KServe's controller adds to the model server's container beside the runtime's
    env: nothing the server reads (its ports are the container's own)."""
    del documents
    return {}


CANARY = {"name": "c", "model": {"modelFormat": {"name": "mlflow"}}}
# Fields the strict schemas must refuse: (kind, path, value).
MISSPELT = [
    (KIND, ["spec", "predictr"], {}),
    (KIND, ["spec", "predictor", "scaleMetric"], "cpus"),
    (KIND, ["spec", "predictor", "model", "protocolVersion"], "v3"),
    (KIND, ["spec", "canary"], [{"trafficPercent": 101, "predictor": CANARY}]),
    (KIND, ["spec", "canary"], [{"trafficPercent": 10, "predictor": {**CANARY, "maxReplicas": 3}}]),
    (KIND, ["spec", "canary"], [{"trafficPercent": 10, "predictor": {"model": CANARY["model"]}}]),
    ("ServingRuntime", ["spec", "protocolVersion"], ["v2"]),
    ("ServingRuntime", ["spec", "supportedModelFormats", 0, "autoselect"], False),
]
# Broken manifests the cluster contract must name: case -> (change of the documents, the
# expected line).
CONTRACT_MUTATIONS: dict = {
    "a runtime that is not there": (
        lambda documents: server_pod_fields(documents)["model"].update(runtime="missing"),
        "spec.predictor.model.runtime: no ServingRuntime missing in",
    ),
    "a model format the runtime does not serve": (
        lambda documents: server_pod_fields(documents)["model"]["modelFormat"].update(name="onnx"),
        "spec.predictor.model.modelFormat: ServingRuntime",
    ),
}
