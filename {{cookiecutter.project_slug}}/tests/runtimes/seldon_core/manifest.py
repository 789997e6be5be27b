"""What the shared manifest tests need to know about this runtime's model server resource."""

from __future__ import annotations

from pathlib import Path

KIND = "SeldonDeployment"
SCHEMA = Path(__file__).with_name("seldondeployment.schema.json")


def pod_specs(document: dict) -> list[dict]:
    """Every pod spec of the resource: one per component of each predictor."""
    return [component["spec"] for predictor in document["spec"]["predictors"]
            for component in predictor["componentSpecs"]]  # fmt: skip


def server_pod(document: dict) -> dict:
    """The model server's pod spec (the default predictor's)."""
    return document["spec"]["predictors"][0]["componentSpecs"][0]["spec"]


# Fields the strict schema must refuse: (path, value).
MISSPELT = [
    (["spec", "predictors", 0, "traffik"], 100),
    (["spec", "predictors", 0, "graph", "type"], "MODLE"),
]
# Broken manifests the cluster contract must name: case -> (change, the expected line).
CONTRACT_MUTATIONS = {
    "the operator's executor injected": (
        lambda d: d["spec"]["predictors"][0].pop("annotations"),
        "containers[seldon-container-engine].securityContext.capabilities.drop: must include ALL",
    ),
}
