"""What the shared manifest tests need to know about a SeldonDeployment, the model server's
resource of every runtime on Seldon Core 1 (each runtime's `manifest.py` is this module)."""

from __future__ import annotations

from pathlib import Path

KIND = "SeldonDeployment"
SCHEMA = Path(__file__).with_name("seldondeployment.schema.json")
# Every kind of the runtime with its strict schema.
SCHEMAS = {KIND: SCHEMA}


def pod_specs(document: dict) -> list[dict]:
    """Every pod spec of the resource: one per component of each predictor."""
    return [component["spec"] for predictor in document["spec"]["predictors"]
            for component in predictor["componentSpecs"]]  # fmt: skip


def _server_pod(documents: list[dict]) -> dict:
    return _default_predictor(documents)["componentSpecs"][0]["spec"]


def _default_predictor(documents: list[dict]) -> dict:
    return next(d for d in documents if d["kind"] == KIND)["spec"]["predictors"][0]


def server_container(documents: list[dict]) -> dict:
    """The model server's container, in place (the default predictor's)."""
    return _server_pod(documents)["containers"][0]


def server_pod_fields(documents: list[dict]) -> dict:
    """The model server's pod spec, in place (the default predictor's)."""
    return _server_pod(documents)


def operator_env(documents: list[dict]) -> dict[str, str]:
    """What Seldon's operator adds to the model server's container beside the manifest's env
    (operator 1.19, a MODEL unit without executor): its ports come with the local run's own."""
    predictor = _default_predictor(documents)
    container = server_container(documents)
    return {
        "PREDICTIVE_UNIT_ID": container["name"], "MLSERVER_MODEL_NAME": container["name"],
        "PREDICTOR_ID": predictor["name"], "SELDON_DEPLOYMENT_ID": next(
            d for d in documents if d["kind"] == KIND)["metadata"]["name"],
        "PREDICTIVE_UNIT_METRICS_ENDPOINT": "/prometheus",
        "MLSERVER_METRICS_ENDPOINT": "/prometheus",
        "SELDON_EXECUTOR_ENABLED": "true",
    }  # fmt: skip


# Fields the strict schema must refuse: (kind, path, value).
MISSPELT = [
    (KIND, ["spec", "predictors", 0, "traffik"], 100),
    (KIND, ["spec", "predictors", 0, "graph", "type"], "MODLE"),
]
# Broken manifests the cluster contract must name: case -> (change of the documents, the
# expected line).
CONTRACT_MUTATIONS = {
    "the operator's executor injected": (
        lambda documents: _default_predictor(documents).pop("annotations"),
        "containers[seldon-container-engine].securityContext.capabilities.drop: must include ALL",
    ),
}
