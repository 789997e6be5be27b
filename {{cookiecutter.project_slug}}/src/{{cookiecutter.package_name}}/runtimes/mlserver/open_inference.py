"""The Open Inference Protocol (V2) as MLServer speaks it, in one place: paths, ports, how
MLServer starts, request bodies and how to read answers.

Every runtime that runs MLServer takes its side of `runtimes.base.ServingRuntime` from here
and adds what is its own (its name, its manifest, its rollouts) in its `protocol.py`. The
server (`server.py`) decodes requests with `decode`; every client in this repo (the `predict`
command, tests, benchmarks, the local stack) builds them with `request_body`.

A request carries either one 2-D input (shape [rows, features], columns in model order) or
one input per feature, named after it (shape [rows] or [rows, 1]), in any order.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ...settings import MODEL_NAME, Settings
from ...tasks import task
from ...validation import (
    MAX_REQUEST_BYTES,
    MAX_VALUES,
    NUMBER_TYPES,
    InvalidInput,
    check_dimensions,
)

# MLServer's own variable names, so what an operator injects in the cluster wins.
PORTS = {
    "http": ("MLSERVER_HTTP_PORT", 8080),
    "grpc": ("MLSERVER_GRPC_PORT", 8081),
    "metrics": ("MLSERVER_METRICS_PORT", 8082),
}
PREDICT_PATH = f"/v2/models/{MODEL_NAME}/infer"
READY_PATH = f"/v2/models/{MODEL_NAME}/ready"  # 200 once load() has fetched the model
LIVE_PATH = "/v2/health/live"
NUMERIC_DATATYPES = {
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64",
}  # fmt: skip
# The answer's one output tensor (tasks/: what the model answers, column by column); its
# `names` parameter names its columns.
OUTPUT = task.OUTPUT
# MLflow signature types as V2 tensor datatypes (what the model metadata declares).
V2_DATATYPES = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32",
                "boolean": "BOOL"}  # fmt: skip


def model_metadata(name: str, version: str, feature_names: list[str], feature_types: list[str],
                   output_names: list[str]) -> dict[str, Any]:  # fmt: skip
    """The V2 model metadata of the served version, from its MLflow signature.

    Inputs are listed one per feature (shape [-1]: one value per row), the form a V2 client
    discovers and fills by name; the server takes the same data as one [rows, features]
    input too. The output has one column per output name, named in its parameters.
    """
    types = feature_types or ["double"] * len(feature_names)
    inputs = [
        {"name": feature, "datatype": V2_DATATYPES.get(kind, "FP64"), "shape": [-1]}
        for feature, kind in zip(feature_names, types, strict=True)
    ]
    output = {"name": OUTPUT, "datatype": "FP64", "shape": [-1, len(output_names)],
              "parameters": {"names": list(output_names)}}  # fmt: skip
    return {"name": name, "versions": [version], "platform": "mlserver",
            "inputs": inputs, "outputs": [output]}  # fmt: skip


def serving_python() -> Path:
    """The interpreter of the serving environment: MLServer needs an older FastAPI than
    Prefect, so `make install` puts it in `.venv-serve` (the serving image has only it).

    SERVE_PYTHON (the Makefile exports it) wins; then the repo's `.venv-serve`; then this
    interpreter (inside the serving environment or image itself)."""
    override = os.environ.get("SERVE_PYTHON")
    if override:
        return Path(override)
    beside_the_repo = Path(__file__).resolve().parents[4] / ".venv-serve" / "bin" / "python"
    return beside_the_repo if beside_the_repo.exists() else Path(sys.executable)


def server_command(settings: Settings, workers: int, threads: int) -> tuple[list[str], dict]:
    """`mlserver start` and the environment that configures it for this model.

    MLServer reads its settings from MLSERVER_* variables; with no model-settings.json in the
    folder it serves the one model MLSERVER_MODEL_* describe. Inference runs in the server
    process (`parallel_workers` 0: the model is small, and the custom metrics stay in one
    registry); `workers`/`threads` are not used by this runtime.
    """
    executable = Path(sys.executable).with_name("mlserver")
    if not executable.exists():
        raise FileNotFoundError("mlserver is not installed in this environment: run `make install`")
    env = {
        "MLSERVER_HOST": os.environ.get("MLSERVER_HOST", "0.0.0.0"),
        "MLSERVER_HTTP_PORT": str(settings.http_port),
        "MLSERVER_GRPC_PORT": str(settings.grpc_port),
        "MLSERVER_METRICS_PORT": str(settings.metrics_port),
        # The path every runtime's PodMonitor scrapes, whatever path an operator sets.
        "MLSERVER_METRICS_ENDPOINT": "/metrics",
        "MLSERVER_PARALLEL_WORKERS": "0",
        "MLSERVER_DEBUG": "false",
        "MLSERVER_MODEL_NAME": settings.model_name,
        "MLSERVER_MODEL_IMPLEMENTATION": f"{__package__}.server.MLServerModel",
        # REST bodies have the same bound (limits.py); MLServer leaves gRPC's at its default
        "MLSERVER_GRPC_MAX_MESSAGE_LENGTH": str(MAX_REQUEST_BYTES),
    }
    # The folder MLServer scans for model-settings.json: the package holds none.
    return [str(executable), "start", str(Path(__file__).parent)], env


def local_server_env(http_port: int, grpc_port: int, metrics_port: int) -> dict[str, str]:
    """The environment that makes `serve` listen on these ports of 127.0.0.1 (the local
    stack, tests, benchmarks)."""
    ports = {"http": http_port, "grpc": grpc_port, "metrics": metrics_port}
    return {
        **{PORTS[kind][0]: str(port) for kind, port in ports.items()},
        "MLSERVER_HOST": "127.0.0.1",
    }


def request_body(rows: list[list[float]], names: list[str] | None = None,
                 request_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    """One input per feature when names are given, else one 2-D input in model order."""
    if names is not None:
        inputs = [
            {"name": name, "shape": [len(rows)], "datatype": "FP64",
             "data": [row[column] for row in rows]}
            for column, name in enumerate(names)
        ]  # fmt: skip
    else:
        width = len(rows[0]) if rows else 0
        inputs = [{"name": "features", "shape": [len(rows), width], "datatype": "FP64",
                   "data": [value for row in rows for value in row]}]  # fmt: skip
    body: dict[str, Any] = {"inputs": inputs}
    if request_id:
        body["id"] = request_id
    return body


def _output(answer: dict[str, Any]) -> dict[str, Any]:
    return next(o for o in answer["outputs"] if o["name"] == OUTPUT)


def outputs(answer: dict[str, Any]) -> list[list[float]]:
    """The model's outputs per row from a prediction answer (tasks/)."""
    output = _output(answer)
    rows, width = output["shape"]
    data = output["data"]
    return [data[i * width : (i + 1) * width] for i in range(rows)]


def output_names(answer: dict[str, Any]) -> list[str]:
    return _output(answer)["parameters"]["names"]


def served_version(answer: dict[str, Any]) -> str:
    """The registry version that answered."""
    return answer["model_version"]


def error_message(answer: dict[str, Any]) -> str:
    """The reason of a 4xx/5xx answer (MLServer's errors, FastAPI's validation details)."""
    return str(answer.get("error") or answer.get("detail"))


def _fields(item: Any) -> tuple[Any, Any, Any, Any]:
    """(name, shape, datatype, data) of one V2 input: MLServer's parsed `RequestInput` as the
    server gets it (read directly: no second JSON round trip), or a dict from a JSON body."""
    if isinstance(item, dict):
        return item.get("name"), item.get("shape"), item.get("datatype"), item.get("data")
    try:
        return item.name, item.shape, item.datatype, item.data.root  # use_enum_values: a str
    except AttributeError:  # neither: the 'shape' check names it
        return None, None, None, None


def _values(item: Any, index: int) -> tuple[Any, list[int]]:
    """The values of one input, flat (row-major), and its shape.

    Plain numbers decode in one step into a float array (as MLServer's NumpyCodec does, after
    a check that no value is a bool, a string or null); anything else stays a list, and the
    feature-matrix check names the offending value."""
    name, shape, datatype, data = _fields(item)
    name = name if name is not None else f"#{index}"
    if not (isinstance(shape, list) and shape
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                    for s in shape)):  # fmt: skip
        raise InvalidInput(f"input #{index}: 'shape' must be a list of sizes")
    if not isinstance(data, list):
        raise InvalidInput(f"input #{index}: 'data' must be a list of values")
    if datatype not in NUMERIC_DATATYPES:
        raise InvalidInput(f"input {name!r}: datatype {datatype!r} is not numeric")
    size = math.prod(shape)
    if size > MAX_VALUES:  # before anything of that size is allocated
        raise InvalidInput(
            f"input {name!r}: shape {shape} has {size} values; at most {MAX_VALUES} are allowed"
        )
    if set(map(type, data)) <= NUMBER_TYPES:
        if len(data) != size:
            raise InvalidInput(
                f"input {name!r}: shape {shape} needs {size} values, got {len(data)}"
            )
        with contextlib.suppress(OverflowError):  # e.g. 2**2000: the checked path names it
            return np.array(data, dtype=float), shape
    if any(isinstance(v, list) for v in data):  # the nested form: flatten row-major
        try:
            data = _flatten(data)
        except RecursionError:
            raise InvalidInput(f"input {name!r}: 'data' is nested too deeply") from None
    if len(data) != size:
        raise InvalidInput(f"input {name!r}: shape {shape} needs {size} values, got {len(data)}")
    return data, shape


def _flatten(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        flat.extend(_flatten(value) if isinstance(value, list) else [value])
    return flat


def decode(request: Any) -> tuple[Any, list[str] | None, str]:
    """(rows, feature names, payload form) of a V2 inference request, or InvalidInput.

    `request` is MLServer's parsed `InferenceRequest` (the server) or a JSON body (a dict).
    Rows are a float array when every value is a plain number, else lists (checked later by
    `validation.to_feature_matrix`, which names the offending value)."""
    inputs = request.get("inputs") if isinstance(request, dict) else request.inputs
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("expected 'inputs': a list of tensors")
    if len(inputs) == 1:
        data, shape = _values(inputs[0], 0)
        if len(shape) == 1:
            return data, None, "row"  # a single flat row
        if len(shape) != 2:
            raise InvalidInput(
                f"input {_fields(inputs[0])[0]!r}: expected shape [rows, features], got {shape}"
            )
        rows, width = shape
        check_dimensions(rows, width)  # [10000000, 0] has no values, but 10^7 empty rows
        if isinstance(data, np.ndarray):
            return data.reshape(rows, width), None, "tensor"
        return [data[i * width : (i + 1) * width] for i in range(rows)], None, "tensor"
    names, columns = [], []
    for index, item in enumerate(inputs):
        data, shape = _values(item, index)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInput(
                f"input {_fields(item)[0]!r}: a feature column has shape [rows] or [rows, 1]"
            )
        check_dimensions(shape[0], len(inputs))
        names.append(str(_fields(item)[0]))
        columns.append(data)
    if len({len(column) for column in columns}) > 1:
        raise InvalidInput("every feature column must have the same number of rows")
    if all(isinstance(column, np.ndarray) for column in columns):
        return np.column_stack(columns), names, "columns"
    return [list(row) for row in zip(*columns, strict=True)], names, "columns"
