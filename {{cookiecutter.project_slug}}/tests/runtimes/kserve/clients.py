"""A V2 client (tritonclient, over HTTP/JSON and gRPC) against a running MLServer.

tritonclient comes with MLServer, so it lives in the serving environment (`.venv-serve`,
protobuf 6) and not in the test environment (Prefect's protobuf 5): the test imports
`probabilities_by_transport`, which runs this file as a script in the serving environment
and reads the answers it prints.
"""

from __future__ import annotations

import json
import subprocess
import sys

MODEL_NAME = "{{ cookiecutter.project_slug }}"
TIMEOUT_SECONDS = 120


def probabilities_by_transport(
    http_port: int, grpc_port: int, rows: list[list[float]]
) -> dict[str, list[list[float]]]:
    """The class probabilities tritonclient gets over HTTP (JSON) and over gRPC."""
    from {{ cookiecutter.package_name }}.runtimes.kserve.protocol import serving_python

    done = subprocess.run(
        [str(serving_python()), __file__, str(http_port), str(grpc_port), json.dumps(rows)],
        capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
    )  # fmt: skip
    assert done.returncode == 0, f"the V2 client failed:\n{done.stderr}"
    return json.loads(done.stdout)


def _ask(client_module, url: str, rows: list[list[float]], **as_json) -> list[list[float]]:
    import numpy as np

    client = client_module.InferenceServerClient(url=url)
    try:
        assert client.is_model_ready(MODEL_NAME), f"{url}: {MODEL_NAME} is not ready"
        features = client_module.InferInput("features", [len(rows), len(rows[0])], "FP64")
        features.set_data_from_numpy(np.asarray(rows, dtype=np.float64), **as_json)
        wanted = client_module.InferRequestedOutput("probabilities", **as_json)
        result = client.infer(MODEL_NAME, [features], outputs=[wanted])
        return result.as_numpy("probabilities").tolist()
    finally:
        client.close()


def main(http_port: str, grpc_port: str, rows_json: str) -> None:
    import tritonclient.grpc
    import tritonclient.http

    rows = json.loads(rows_json)
    found = {
        # JSON tensors (tritonclient's default over HTTP is its binary extension, which the
        # V2 protocol leaves optional and MLServer does not implement)
        "http": _ask(tritonclient.http, f"127.0.0.1:{http_port}", rows, binary_data=False),
        "grpc": _ask(tritonclient.grpc, f"127.0.0.1:{grpc_port}", rows),
    }
    print(json.dumps(found))


if __name__ == "__main__":
    main(*sys.argv[1:])
