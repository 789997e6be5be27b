"""Seldon's own client (`SeldonClient` of seldon-core) against a running model server."""

from __future__ import annotations

import numpy as np


def probabilities_by_transport(
    http_port: int, grpc_port: int, rows: list[list[float]]
) -> dict[str, list[list[float]]]:
    """The class probabilities SeldonClient gets over REST and over gRPC."""
    from seldon_core.seldon_client import SeldonClient
    from seldon_core.utils import seldon_message_to_json

    found = {}
    for transport, port in (("rest", http_port), ("grpc", grpc_port)):
        client = SeldonClient(microservice_endpoint=f"127.0.0.1:{port}")
        answer = client.microservice(method="predict", transport=transport, data=np.array(rows))
        assert answer.success, f"{transport}: {answer.msg}"
        response = answer.response
        if not isinstance(response, dict):  # gRPC: a SeldonMessage
            response = seldon_message_to_json(response)
        data = response["data"]
        if "tensor" in data:
            shape = data["tensor"]["shape"]
            found[transport] = np.reshape(data["tensor"]["values"], shape).tolist()
        else:
            found[transport] = data["ndarray"]
    return found
