"""Seldon's own clients (`SeldonClient` and the gRPC stub of seldon-core) against a running
model server."""

from __future__ import annotations

import numpy as np


def outputs_by_transport(
    http_port: int, grpc_port: int, rows: list[list[float]]
) -> dict[str, list[list[float]]]:
    """The model's outputs SeldonClient gets over REST and over gRPC."""
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


def empty_rows_request(rows: int) -> dict:
    """A few dozen bytes declaring `rows` rows of no values."""
    return {"data": {"tensor": {"shape": [rows, 0], "values": []}}}


def grpc_answer(grpc_port: int, body: dict) -> tuple[str, str]:
    """(gRPC status name, details) of the Seldon request `body` (its JSON form) sent over gRPC."""
    import grpc
    from seldon_core.proto.prediction_pb2_grpc import ModelStub
    from seldon_core.utils import json_to_seldon_message

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        try:
            ModelStub(channel).Predict(json_to_seldon_message(body), timeout=30)
        except grpc.RpcError as error:
            return error.code().name, error.details()
    return "OK", ""
