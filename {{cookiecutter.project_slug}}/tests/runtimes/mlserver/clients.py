"""V2 clients against a running MLServer: tritonclient (HTTP/JSON and gRPC) and MLServer's own
gRPC messages (for requests tritonclient would refuse to build).

Both come with MLServer, so they live in the serving environment (`.venv-serve`, protobuf 6)
and not in the test environment (Prefect's protobuf 5): the functions the tests import run
this file as a script in the serving environment and read what it prints.
"""

from __future__ import annotations

import json
import subprocess
import sys

MODEL_NAME = "{{ cookiecutter.project_slug }}"
TIMEOUT_SECONDS = 120


def empty_rows_request(rows: int) -> dict:
    """A few dozen bytes declaring `rows` rows of no values."""
    return {"inputs": [{"name": "features", "shape": [rows, 0], "datatype": "FP64", "data": []}]}


def _in_serving_environment(command: str, **arguments: object) -> object:
    from {{ cookiecutter.package_name }}.runtimes.mlserver.open_inference import serving_python

    done = subprocess.run(
        [str(serving_python()), __file__, command], input=json.dumps(arguments),
        capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
    )  # fmt: skip
    assert done.returncode == 0, f"the V2 client failed:\n{done.stderr}"
    return json.loads(done.stdout)


def outputs_by_transport(
    http_port: int, grpc_port: int, rows: list[list[float]]
) -> dict[str, list[list[float]]]:
    """The model's outputs tritonclient gets over HTTP (JSON) and over gRPC."""
    from {{ cookiecutter.package_name }}.runtimes.mlserver.open_inference import OUTPUT

    return _in_serving_environment("outputs", http_port=http_port, grpc_port=grpc_port,
                                   rows=rows, output=OUTPUT)  # fmt: skip


def grpc_answer(grpc_port: int, body: dict) -> tuple[str, str]:
    """(gRPC status name, details) of the V2 request `body` (its JSON form) sent over gRPC."""
    code, details = _in_serving_environment("grpc-answer", grpc_port=grpc_port, body=body)
    return code, details


def metadata_by_transport(http_port: int, grpc_port: int) -> dict[str, dict]:
    """The model's V2 metadata as tritonclient reads it over HTTP and over gRPC (as dicts)."""
    return _in_serving_environment("metadata", http_port=http_port, grpc_port=grpc_port)


def _metadata(http_port: int, grpc_port: int) -> dict:
    import tritonclient.grpc
    import tritonclient.http

    http = tritonclient.http.InferenceServerClient(url=f"127.0.0.1:{http_port}")
    grpc = tritonclient.grpc.InferenceServerClient(url=f"127.0.0.1:{grpc_port}")
    try:
        over_grpc = grpc.get_model_metadata(MODEL_NAME, as_json=True)
        return {"http": http.get_model_metadata(MODEL_NAME), "grpc": over_grpc}
    finally:
        http.close()
        grpc.close()


def _ask(client_module, url: str, rows: list[list[float]], output: str,
         **as_json) -> list[list[float]]:  # fmt: skip
    import numpy as np

    client = client_module.InferenceServerClient(url=url)
    try:
        assert client.is_model_ready(MODEL_NAME), f"{url}: {MODEL_NAME} is not ready"
        features = client_module.InferInput("features", [len(rows), len(rows[0])], "FP64")
        features.set_data_from_numpy(np.asarray(rows, dtype=np.float64), **as_json)
        wanted = client_module.InferRequestedOutput(output, **as_json)
        result = client.infer(MODEL_NAME, [features], outputs=[wanted])
        return result.as_numpy(output).tolist()
    finally:
        client.close()


def _outputs(http_port: int, grpc_port: int, rows: list[list[float]], output: str) -> dict:
    import tritonclient.grpc
    import tritonclient.http

    return {
        # JSON tensors (tritonclient's default over HTTP is its binary extension, which the
        # V2 protocol leaves optional and MLServer does not implement)
        "http": _ask(tritonclient.http, f"127.0.0.1:{http_port}", rows, output, binary_data=False),
        "grpc": _ask(tritonclient.grpc, f"127.0.0.1:{grpc_port}", rows, output),
    }


def _grpc_answer(grpc_port: int, body: dict) -> list[str]:
    import grpc
    from mlserver.grpc.converters import ModelInferRequestConverter
    from mlserver.grpc.dataplane_pb2_grpc import GRPCInferenceServiceStub
    from mlserver.types import InferenceRequest

    request = ModelInferRequestConverter.from_types(
        InferenceRequest.model_validate(body), model_name=MODEL_NAME
    )
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        try:
            GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
        except grpc.RpcError as error:
            return [error.code().name, error.details()]
    return ["OK", ""]


if __name__ == "__main__":
    run = {"outputs": _outputs, "grpc-answer": _grpc_answer,
           "metadata": _metadata}[sys.argv[1]]  # fmt: skip
    print(json.dumps(run(**json.load(sys.stdin))))
