"""What the shared manifest tests need to know about this runtime's model server resource."""

from __future__ import annotations

import json
from pathlib import Path

KIND = "InferenceService"
SCHEMA = Path(__file__).with_name("inferenceservice.schema.json")
# The predictor inlines a pod spec, beside fields of its own that the schema lists.
EXTENSION = set(json.loads(SCHEMA.read_text())["x-component-extension"])


def pod_specs(document: dict) -> list[dict]:
    """The predictor's pod spec, without the resource's own fields."""
    predictor = document["spec"]["predictor"]
    return [{k: v for k, v in predictor.items() if k not in EXTENSION}]


def server_pod(document: dict) -> dict:
    """The model server's pod spec, in place (the predictor)."""
    return document["spec"]["predictor"]


# Fields the strict schema must refuse: (path, value).
MISSPELT = [
    (["spec", "predictr"], {}),
    (["spec", "predictor", "scaleMetric"], "cpus"),
    (["spec", "predictor", "canaryTrafficPercent"], 101),
]
# Broken manifests the cluster contract must name: case -> (change, the expected line).
CONTRACT_MUTATIONS: dict = {}
