"""The Seldon protocol, in one place: paths, ports, request bodies and how to read answers.

This module is the runtime's side of `runtimes.base.ServingRuntime`. The server (`server.py`)
decodes requests with `decode`; every client in this repo (the `predict` command, tests,
benchmarks, the local stack) builds them with `request_body`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ...settings import PACKAGE_NAME, Settings
from ...validation import InvalidInput, check_dimensions

NAME = "Seldon Core"
# Seldon's own variable names: the operator injects them into the predictor's pods.
PORTS = {
    "http": ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", 9000),
    "grpc": ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", 9500),
    "metrics": ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", 6000),
}
# The wrapper class, as `seldon-core-microservice` imports it.
SERVER_CLASS = f"{PACKAGE_NAME}.runtimes.seldon_core.server.SeldonModel"
# Predictors of one SeldonDeployment split, mirror or replace traffic (rollout.py).
ROLLOUT_STRATEGIES = ("replace", "canary", "shadow", "ab")
ROLLOUT_REFUSAL = "not a strategy of this runtime"
MANIFEST = "seldondeployment.yaml"
PREDICT_PATH = "/api/v1.0/predictions"
READY_PATH = "/health/status"  # 503 until load() has fetched the model
LIVE_PATH = "/health/ping"


def serving_python() -> Path:
    """The interpreter whose environment has the serving runtime: this one."""
    return Path(sys.executable)


def server_command(settings: Settings, workers: int, threads: int) -> tuple[list[str], dict]:
    """`seldon-core-microservice` serving the wrapper class, and its environment.

    Seldon 1.19 also copies the custom metrics into every answer unless told not to: they are
    for its metrics endpoint, not for clients (and an answer would carry a whole report)."""
    # The venv's own script first: the venv's bin/ need not be on PATH.
    executable = Path(sys.executable).with_name("seldon-core-microservice")
    if not executable.exists():
        found = shutil.which("seldon-core-microservice")
        if found is None:
            raise FileNotFoundError("seldon-core-microservice is not installed: run `make install`")
        executable = Path(found)
    argv = [
        str(executable), SERVER_CLASS, "--service-type", "MODEL",
        "--http-port", str(settings.http_port), "--grpc-port", str(settings.grpc_port),
        "--metrics-port", str(settings.metrics_port),
        "--workers", str(workers), "--threads", str(threads),
    ]  # fmt: skip
    # gunicorn (26) opens a control socket under XDG_RUNTIME_DIR, else under ~/.gunicorn: in
    # the pod HOME is not writable and Seldon passes no option to turn the socket off, so it
    # goes to the temporary directory (the pod's /tmp volume), readable by this user only.
    # Seldon's operator sets the metrics path to /prometheus: every runtime's PodMonitor
    # scrapes /metrics.
    return argv, {"INCLUDE_METRICS_IN_CLIENT_RESPONSE": "false",
                  "XDG_RUNTIME_DIR": tempfile.gettempdir(),
                  "PREDICTIVE_UNIT_METRICS_ENDPOINT": "/metrics"}  # fmt: skip


def local_server_env(http_port: int, grpc_port: int, metrics_port: int) -> dict[str, str]:
    """The environment that makes `serve` listen on these ports (the local stack, tests,
    benchmarks). The microservice binds 0.0.0.0 whatever it is told: address it at 127.0.0.1."""
    ports = {"http": http_port, "grpc": grpc_port, "metrics": metrics_port}
    return {PORTS[kind][0]: str(port) for kind, port in ports.items()}


def request_body(rows: list[list[float]], names: list[str] | None = None,
                 request_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    data: dict[str, Any] = {"ndarray": rows}
    if names is not None:
        data["names"] = list(names)
    body: dict[str, Any] = {"data": data}
    if request_id:
        body["meta"] = {"puid": request_id}
    return body


def outputs(answer: dict[str, Any]) -> list[list[float]]:
    """The model's outputs per row from a prediction answer (tasks/)."""
    return answer["data"]["ndarray"]


def output_names(answer: dict[str, Any]) -> list[str]:
    return answer["data"]["names"]


def served_version(answer: dict[str, Any]) -> str:
    """The registry version that answered."""
    return answer["meta"]["tags"]["model_version"]


def error_message(answer: dict[str, Any]) -> str:
    """The reason of a 4xx/5xx answer."""
    return answer["status"]["info"]


def decode(request: dict[str, Any]) -> tuple[Any, list[str] | None, str]:
    """(rows, feature names, payload form) of a Seldon JSON request, or InvalidInput."""
    if "jsonData" in request:
        return request["jsonData"], None, "jsonData"
    data = request.get("data")
    if not isinstance(data, dict):
        raise InvalidInput("expected 'data' (with 'ndarray' or 'tensor') or 'jsonData'")
    names = data.get("names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        raise InvalidInput("'data.names' must be a list of feature names")
    if "ndarray" in data:
        return data["ndarray"], names or None, "ndarray"
    if "tensor" in data:
        tensor = data["tensor"]
        shape = tensor.get("shape") if isinstance(tensor, dict) else None
        # absent: none (what a gRPC message with no values reads as)
        values = tensor.get("values", []) if isinstance(tensor, dict) else None
        if not (
            isinstance(shape, list) and len(shape) == 2
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
            and isinstance(values, list)
        ):  # fmt: skip
            raise InvalidInput(
                "'data.tensor' must have a 2-D 'shape' [rows, features] and "
                "rows x features 'values'"
            )
        check_dimensions(*shape)
        if len(values) != shape[0] * shape[1]:
            raise InvalidInput(
                f"'data.tensor': shape {shape} needs {shape[0] * shape[1]} values, "
                f"got {len(values)}"
            )
        rows = [values[i * shape[1] : (i + 1) * shape[1]] for i in range(shape[0])]
        return rows, names or None, "tensor"
    raise InvalidInput("'data' must contain 'ndarray' or 'tensor'")
