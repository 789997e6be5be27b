"""The real MLServer over HTTP (Open Inference Protocol): payload shapes, Kafka request log,
metrics, faults and fuzzing; plus the V2 request decoding without a server."""

from __future__ import annotations

import json
import random
import re
import time

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.data import FEATURES, sample_rows
from {{ cookiecutter.package_name }}.runtimes import protocol
from {{ cookiecutter.package_name }}.settings import MODEL_NAME, load_settings
from {{ cookiecutter.package_name }}.tasks import task
from {{ cookiecutter.package_name }}.validation import InvalidInput, to_feature_matrix

from ...probes import get, metric_total, post, scrape

NAMES = list(FEATURES)
ROWS = sample_rows(3, seed=7)
MATRIX = ROWS.to_numpy().tolist()
FLAT = [v for row in MATRIX for v in row]


def predict(server, payload: object) -> tuple[int, dict]:
    return post(f"{server.http}{protocol.PREDICT_PATH}", payload)


def _deep(levels: int) -> list:
    nested: list = [1.0]
    for _ in range(levels):
        nested = [nested]
    return nested


def _tensor(name: str, shape: list[int], data: list, datatype: str = "FP64") -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


PAYLOAD_SHAPES = {
    "matrix": {"inputs": [_tensor("features", [len(MATRIX), len(NAMES)], FLAT)]},
    "matrix-nested": {"inputs": [_tensor("features", [len(MATRIX), len(NAMES)], MATRIX)]},
    "matrix-fp32": {"inputs": [_tensor("features", [len(MATRIX), len(NAMES)], FLAT, "FP32")]},
    "columns": protocol.request_body(MATRIX, NAMES),
    "columns-reordered": {"inputs": [
        _tensor(name, [len(MATRIX), 1], [row[NAMES.index(name)] for row in MATRIX])
        for name in reversed(NAMES)
    ]},
}  # fmt: skip


# --- decoding, no server -----------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(PAYLOAD_SHAPES))
def test_every_payload_shape_decodes_to_the_same_rows(shape):
    rows, names, _ = protocol.decode(PAYLOAD_SHAPES[shape])
    if names is not None:
        rows = [[row[names.index(n)] for n in NAMES] for row in rows]
    np.testing.assert_allclose(np.asarray(rows, dtype=float), MATRIX, rtol=1e-6)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "expected 'inputs'"),
        ({"inputs": []}, "expected 'inputs'"),
        ({"inputs": [{"name": "x", "shape": "2", "datatype": "FP64", "data": [1]}]}, "'shape'"),
        ({"inputs": [_tensor("x", [1, 4], [1, 2, 3])]}, "needs 4 values, got 3"),
        ({"inputs": [_tensor("x", [1, 4], ["a", "b", "c", "d"], "BYTES")]}, "not numeric"),
        ({"inputs": [_tensor("x", [1, 2, 2], [1, 2, 3, 4])]}, "expected shape [rows, features]"),
        ({"inputs": [_tensor("a", [2], [1, 2]), _tensor("b", [3], [1, 2, 3])]}, "same number"),
        ({"inputs": [_tensor("a", [1, 2], [1, 2]), _tensor("b", [1], [1])]}, "[rows, 1]"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}, "'data' must be"),
        ({"inputs": [_tensor("x", [1], _deep(5000))]}, "nested too deeply"),
    ],
)
def test_malformed_requests_are_named(payload, message):
    with pytest.raises(InvalidInput) as raised:
        protocol.decode(payload)
    assert message in str(raised.value)


def test_clients_build_requests_the_server_decodes():
    body = protocol.request_body(MATRIX, None, request_id="abc")
    assert body["id"] == "abc"
    rows = protocol.decode(body)[0]
    assert isinstance(rows, np.ndarray) and rows.dtype == float  # plain numbers: one step
    assert rows.tolist() == MATRIX


@pytest.mark.parametrize(
    ("value", "message"),
    [(True, "got True"), ("5.1", "got '5.1'"), (None, "got None"), (2**2000, "out of range")],
)
def test_values_that_are_not_plain_numbers_are_named_not_converted(value, message):
    # numpy alone would take true for 1.0 and "5.1" for 5.1: each value is checked first.
    for payload in (
        {"inputs": [_tensor("features", [1, len(NAMES)], [value, *FLAT[1 : len(NAMES)]])]},
        {"inputs": [_tensor(n, [1], [value if n == NAMES[0] else 1.0]) for n in NAMES]},
    ):
        rows, names, _ = protocol.decode(payload)
        with pytest.raises(InvalidInput, match=f"feature '{NAMES[0]}': .*{re.escape(message)}"):
            to_feature_matrix(rows, names, NAMES)


def test_the_v2_metadata_lists_every_feature_and_the_named_outputs():
    from {{ cookiecutter.package_name }}.runtimes.mlserver.open_inference import OUTPUT, model_metadata

    metadata = model_metadata(MODEL_NAME, "7", NAMES, ["double"] * (len(NAMES) - 1) + ["long"],
                              ["a", "b", "c"])  # fmt: skip
    assert metadata["versions"] == ["7"]
    assert [i["name"] for i in metadata["inputs"]] == NAMES
    assert [i["datatype"] for i in metadata["inputs"]][-2:] == ["FP64", "INT64"]
    assert metadata["outputs"] == [{"name": OUTPUT, "datatype": "FP64", "shape": [-1, 3],
                                    "parameters": {"names": ["a", "b", "c"]}}]  # fmt: skip
    # what it declares is what the server takes: one input per feature, by name
    body = {"inputs": [_tensor(i["name"], [2], [1.0, 2.0], i["datatype"])
                       for i in metadata["inputs"][:-1]]}  # fmt: skip
    rows, names, _ = protocol.decode(body)
    assert names == NAMES[:-1] and len(rows) == 2


# --- the real server -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("shape", sorted(PAYLOAD_SHAPES))
def test_every_payload_shape_gives_the_same_outputs(model_server, shape):
    status, reference = predict(model_server, PAYLOAD_SHAPES["matrix"])
    assert status == 200, reference
    status, body = predict(model_server, PAYLOAD_SHAPES[shape])
    assert status == 200, body
    np.testing.assert_allclose(protocol.outputs(body), protocol.outputs(reference), rtol=1e-6)


@pytest.mark.slow
def test_the_model_is_ready_only_with_its_served_version(model_server, trained):
    assert get(f"{model_server.http}{protocol.LIVE_PATH}")[0] == 200
    assert get(f"{model_server.http}{protocol.READY_PATH}")[0] == 200
    status, metadata = get(f"{model_server.http}/v2/models/{MODEL_NAME}")
    assert status == 200 and json.loads(metadata)["name"] == MODEL_NAME
    status, body = predict(model_server, PAYLOAD_SHAPES["matrix"])
    assert protocol.served_version(body) == trained.version
    assert body["parameters"]["predictor"] == load_settings().predictor_name


@pytest.mark.slow
def test_a_v2_client_discovers_the_served_versions_tensors(model_server, trained):
    """tritonclient reads the metadata over HTTP and gRPC, then infers from it alone."""
    from .clients import metadata_by_transport

    http_port = int(model_server.http.rsplit(":", 1)[1])
    found = metadata_by_transport(http_port, model_server.grpc_port)
    http, grpc = found["http"], found["grpc"]
    assert http["versions"] == grpc["versions"] == [trained.version]
    assert [i["name"] for i in http["inputs"]] == [i["name"] for i in grpc["inputs"]] == NAMES
    assert {i["datatype"] for i in http["inputs"]} == {"FP64"}
    assert http["outputs"][0]["name"] == grpc["outputs"][0]["name"] == task.OUTPUT
    # built from the metadata alone, the request is answered
    body = {"inputs": [_tensor(i["name"], [len(MATRIX)], [row[n] for row in MATRIX],
                               i["datatype"]) for n, i in enumerate(http["inputs"])]}  # fmt: skip
    status, answer = predict(model_server, body)
    assert status == 200 and len(protocol.outputs(answer)) == len(MATRIX), answer
    assert http["outputs"][0]["shape"] == [-1, len(protocol.output_names(answer))]


@pytest.mark.slow
def test_custom_metrics_are_exported_with_the_names_every_runtime_uses(model_server):
    labels = {"model": MODEL_NAME, "predictor": load_settings().predictor_name}
    text = scrape(model_server.metrics)
    before = {name: metric_total(text, name, **labels)
              for name in ("model_rows_total", "model_requests_total")}  # fmt: skip
    errors_before = metric_total(text, "model_request_errors_total", status="400")
    assert predict(model_server, PAYLOAD_SHAPES["matrix"])[0] == 200
    assert predict(model_server, protocol.request_body([[1.0]]))[0] == 400
    text = scrape(model_server.metrics)
    for name, added in (("model_rows_total", 3), ("model_requests_total", 2)):
        assert metric_total(text, name, **labels) == before[name] + added
    assert metric_total(text, "model_request_errors_total", status="400",
                        reason="INVALID_INPUT") == errors_before + 1  # fmt: skip
    assert metric_total(text, "model_predict_seconds_count", **labels) > 0
    assert "model_predictions_total{" in text and f"{task.PREDICTION_LABEL}=" in text
    assert metric_total(text, "model_served_version", **labels) >= 1
    deadline = time.monotonic() + 30  # delivery is asynchronous (and slow on a busy machine)
    while metric_total(text, "request_log_sent_total", **labels) == 0:
        assert time.monotonic() < deadline, "no request-log message was counted as sent"
        time.sleep(0.5)
        text = scrape(model_server.metrics)


def _fuzz_payloads(count: int, seed: int = 20260101) -> list[bytes | object]:
    """Seeded random payloads: wrong shapes, types, names, fields, sizes and raw bodies."""
    rng = random.Random(seed)
    width = len(NAMES)
    odd_values = [None, True, "x", "", 1e308, -1e308, 0, {}, [], "1.5", 2**80]
    datatypes = ["FP64", "FP32", "INT64", "BYTES", "BOOL", "fp64", "", None]

    def value():
        return rng.choice([rng.uniform(-10, 10), rng.choice(odd_values)])

    def tensor():
        shape = [rng.randint(-1, 3) for _ in range(rng.randint(0, 3))]
        data = [value() if rng.random() < 0.2 else rng.uniform(0, 8)
                for _ in range(rng.randint(0, 12))]  # fmt: skip
        return {
            "name": rng.choice([*NAMES, "features", "", "bogus"]),
            "shape": shape,
            "datatype": rng.choice(datatypes),
            "data": rng.choice([data, [data], value()]),
        }

    makers = [
        lambda: {"inputs": [tensor() for _ in range(rng.randint(0, width + 1))]},
        lambda: {"inputs": [_tensor(n, [2], [value(), value()]) for n in rng.sample(NAMES, width)]},
        lambda: {"inputs": [_tensor("features", [10_001, width], [1.0] * 10_001 * width)]},
        lambda: {"inputs": rng.choice([None, {}, "text", 3, [None]])},
        lambda: rng.choice([{}, [], None, "text", 7, {"data": {"ndarray": [[1, 2]]}}]),
        lambda: rng.choice([b"", b"{", b"not json", b"\xff\xfe", b'{"inputs": [{"name": "x"']),
    ]
    return [rng.choice(makers)() for _ in range(count)]


@pytest.mark.slow
def test_fuzzed_payloads_never_get_a_server_error(model_server):
    payloads = _fuzz_payloads(400)
    failures = []
    for payload in payloads:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, answer = predict(model_server, body)
        if status >= 500 or status < 400:
            if status == 200 and protocol.outputs(answer):
                continue  # a fuzzed payload can happen to be valid
            failures.append((str(payload)[:200], status, answer))
    assert not failures, f"{len(failures)} of {len(payloads)} failed, e.g. {failures[:3]}"
    status, body = predict(model_server, PAYLOAD_SHAPES["matrix"])  # still healthy
    assert status == 200, body


@pytest.mark.slow
def test_a_gzip_body_is_bounded_after_it_is_inflated(model_server):
    """MLServer inflates a gzip body whole: 60 kB that inflate to 60 MB must stop at the limit,
    and a small gzip body still works."""
    import gzip

    from {{ cookiecutter.package_name }}.validation import MAX_REQUEST_BYTES

    def send(body: bytes) -> tuple[int, dict]:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{model_server.http}{protocol.PREDICT_PATH}", data=gzip.compress(body),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    status, answer = send(b" " * (60 * 2**20))
    assert status == 413, answer
    assert f"limit of {MAX_REQUEST_BYTES} bytes" in protocol.error_message(answer)
    status, answer = send(json.dumps(protocol.request_body(MATRIX)).encode())
    assert status == 200, answer
    assert len(protocol.outputs(answer)) == len(MATRIX)
