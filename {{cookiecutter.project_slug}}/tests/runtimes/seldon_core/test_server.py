"""The real model server over HTTP: payload shapes, Kafka request log, faults and fuzzing."""

from __future__ import annotations

import json
import random
import time

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.data import FEATURES, sample_rows
from {{ cookiecutter.package_name }}.settings import MODEL_NAME, load_settings
from {{ cookiecutter.package_name }}.tasks import task

from ...probes import metric_total, post, scrape

pytestmark = pytest.mark.slow
NAMES = list(FEATURES)


def predict(server, payload: object) -> tuple[int, dict]:
    return post(f"{server.http}/api/v1.0/predictions", payload)


ROWS = sample_rows(3, seed=7)
MATRIX = ROWS.to_numpy().tolist()

PAYLOAD_SHAPES = {
    "ndarray": {"data": {"names": NAMES, "ndarray": MATRIX}},
    "ndarray-reordered": {
        "data": {"names": NAMES[::-1], "ndarray": [row[::-1] for row in MATRIX]}
    },
    "ndarray-no-names": {"data": {"ndarray": MATRIX}},
    "tensor": {"data": {"names": NAMES, "tensor": {
        "shape": [len(MATRIX), len(NAMES)], "values": [v for row in MATRIX for v in row]}}},
    "json-records": {"jsonData": [dict(zip(NAMES, row, strict=True)) for row in MATRIX]},
    "json-columns": {"jsonData": {n: [row[i] for row in MATRIX] for i, n in enumerate(NAMES)}},
}  # fmt: skip


@pytest.mark.parametrize("shape", sorted(PAYLOAD_SHAPES))
def test_every_payload_shape_gives_the_same_outputs(model_server, shape):
    status, reference = predict(model_server, PAYLOAD_SHAPES["ndarray"])
    assert status == 200, reference
    status, body = predict(model_server, PAYLOAD_SHAPES[shape])
    assert status == 200, body
    got = body["data"]["ndarray"] if "data" in body and "ndarray" in body["data"] else None
    if got is None and "tensor" in body.get("data", {}):
        got = np.reshape(body["data"]["tensor"]["values"], body["data"]["tensor"]["shape"])
    if got is None:
        got = body["jsonData"]
    np.testing.assert_allclose(np.asarray(got, dtype=float), reference["data"]["ndarray"])


def _reported_metrics(server) -> str:
    """The metrics endpoint after a report: the first answer REPORT_INTERVAL after the last
    report hands Seldon every metric so far, its own included (a one-row request)."""
    from {{ cookiecutter.package_name }}.runtimes.seldon_core.server import REPORT_INTERVAL

    time.sleep(REPORT_INTERVAL)
    assert predict(server, {"data": {"ndarray": MATRIX[:1]}})[0] == 200
    return scrape(server.metrics)


def test_custom_metrics_are_exported(model_server):
    labels = {"model": MODEL_NAME, "predictor": load_settings().predictor_name}
    text = _reported_metrics(model_server)
    before = {name: metric_total(text, name, **labels)
              for name in ("model_rows_total", "model_requests_total",
                           "model_predict_seconds_count")}  # fmt: skip
    errors_before = metric_total(text, "model_request_errors_total", status="400")
    status, body = predict(model_server, PAYLOAD_SHAPES["ndarray"])
    assert status == 200
    assert "metrics" not in body["meta"]  # they are for the metrics endpoint, not clients
    assert predict(model_server, {"data": {"ndarray": [[1.0]]}})[0] == 400
    text = _reported_metrics(model_server)
    # The three-row and the bad request, and the one-row answer that reported them.
    for name, added in (("model_rows_total", len(MATRIX) + 1), ("model_requests_total", 3),
                        ("model_predict_seconds_count", 2)):  # fmt: skip
        assert metric_total(text, name, **labels) == before[name] + added, name
    assert metric_total(text, "model_request_errors_total", status="400",
                        reason="INVALID_INPUT") == errors_before + 1  # fmt: skip
    assert "model_predictions_total{" in text and f"{task.PREDICTION_LABEL}=" in text
    assert metric_total(text, "model_last_request_rows", **labels) == 1
    assert metric_total(text, "model_served_version", **labels) >= 1
    assert 'method="health"' not in text  # health checks report nothing
    # Delivery to Kafka is asynchronous (the producer connects on the first request): ask
    # until the count is reported, bounded.
    deadline = time.monotonic() + 30
    while metric_total(text, "request_log_sent_total", **labels) == 0:
        assert time.monotonic() < deadline, "no request-log message was counted as sent"
        text = _reported_metrics(model_server)


def _fuzz_payloads(count: int, seed: int = 20260101) -> list[bytes | object]:
    """Seeded random payloads: wrong shapes, types, names, fields, sizes and raw bodies."""
    rng = random.Random(seed)
    width = len(NAMES)
    odd_values = [None, True, "x", "", 1e308, -1e308, float("nan"), 0, {}, [], "1.5", 2**80]

    def value():
        return rng.choice([rng.uniform(-10, 10), rng.choice(odd_values)])

    def row(n: int) -> list:
        return [value() if rng.random() < 0.2 else rng.uniform(0, 8) for _ in range(n)]

    def ragged_ndarray():
        rows = [row(rng.randint(0, width + 3)) for _ in range(rng.randint(0, 4))]
        return {"data": {"ndarray": rows}}

    def wrong_names():
        names = rng.sample([*NAMES, "bogus", "", "x"], rng.randint(0, width + 1))
        return {"data": {"names": names, "ndarray": [row(width)]}}

    def bad_tensor():
        shape = [rng.randint(-1, 3), rng.randint(-1, width + 1)]
        return {"data": {"tensor": {"shape": shape, "values": row(rng.randint(0, 12))}}}

    def json_data():
        records = [dict(zip(NAMES, row(width), strict=True)) for _ in range(rng.randint(0, 3))]
        columns = {n: row(rng.randint(0, 3)) for n in rng.sample(NAMES, rng.randint(1, width))}
        scalars = {n: value() for n in NAMES}
        return {"jsonData": rng.choice([records, columns, scalars, [{"a": 1}, {"b": 2}], value()])}

    makers = [
        ragged_ndarray,
        wrong_names,
        bad_tensor,
        json_data,
        lambda: {"data": {"ndarray": value()}},
        lambda: {"data": rng.choice([None, [], "text", 3, {}])},
        lambda: rng.choice([{}, [], None, "text", 7, {"meta": {}}, {"dat": {"ndarray": []}}]),
        lambda: {"data": {"ndarray": [[[value()] * width]] * rng.randint(1, 3)}},
        lambda: {"strData": rng.choice(["", "1,2,3", "{}"])},
        lambda: {"data": {"ndarray": [row(width)] * rng.choice([0, 10_001])}},
        lambda: rng.choice([b"", b"{", b"not json", b"\xff\xfe", b'{"data": {"ndarray": [[1,2']),
    ]
    return [rng.choice(makers)() for _ in range(count)]


def test_fuzzed_payloads_never_get_a_server_error(model_server):
    payloads = _fuzz_payloads(600)
    failures = []
    for payload in payloads:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, answer = post(f"{model_server.http}/api/v1.0/predictions", body)
        if status >= 500:
            failures.append((payload, status, answer))
    assert not failures, f"{len(failures)} of {len(payloads)} got 5xx, e.g. {failures[:3]}"
    status, body = predict(model_server, PAYLOAD_SHAPES["ndarray"])  # still healthy
    assert status == 200, body


def test_the_wrapper_answers_the_models_outputs_by_name(trained):
    from {{ cookiecutter.package_name }}.runtimes.seldon_core.server import SeldonModel

    model = SeldonModel()
    model.load()
    rows = sample_rows(5)
    answer = model.predict_raw(
        {"data": {"names": list(rows.columns), "ndarray": rows.to_numpy().tolist()}}
    )
    served = model.served.model
    np.testing.assert_allclose(answer["data"]["ndarray"], task.outputs(served, rows.to_numpy()))
    assert answer["data"]["names"] == model.output_names() == task.output_names(served)
    assert answer["meta"]["tags"]["model_version"] == trained.version


def test_health_and_metadata_describe_the_served_model(model_server, trained):
    health = json.loads(scrape(f"{model_server.http}/health/status"))
    assert '"ready"' in json.dumps(health) and f'"{trained.version}"' in json.dumps(health)
    metadata = json.loads(scrape(f"{model_server.http}/api/v1.0/metadata"))
    assert metadata["name"] == MODEL_NAME
    assert metadata["custom"]["feature_names"] == ",".join(FEATURES)


def test_the_wrapper_is_not_ready_before_load():
    from seldon_core.flask_utils import SeldonMicroserviceException

    from {{ cookiecutter.package_name }}.runtimes.seldon_core.server import SeldonModel

    model = SeldonModel()
    with pytest.raises(SeldonMicroserviceException) as raised:
        model.health_status()
    assert raised.value.status_code == 503
    assert model.init_metadata()["custom"]["feature_names"] == ",".join(NAMES)
{%- if cookiecutter.include_drift_detection %}


# -- Seldon's feedback call (REST and gRPC) sends the truth to the labels topic, named by the
# request id every prediction answers with (quality/ joins it to the logged prediction).
def labelled_rows(count: int) -> tuple[list[list[float]], list]:
    from {{ cookiecutter.package_name }}.data import TARGET, load_dataset

    frame = load_dataset().sample(n=count, random_state=4)
    truth = [v.item() if hasattr(v, "item") else v for v in frame[TARGET].tolist()]
    return frame[list(FEATURES)].to_numpy().tolist(), truth


def labels_schema() -> dict:
    from importlib.resources import files

    package = load_settings().__class__.__module__.rsplit(".", 1)[0]
    return json.loads(files(package).joinpath("schemas", "labels.schema.json").read_text())


def label_messages(kafka, request_id: str, timeout: float = 15.0) -> list[dict]:
    """The label messages of `request_id` on the labels topic (waiting for the first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [json.loads(m.value) for m in kafka.read(load_settings().labels_topic, timeout=2)
                 if m.key == request_id.encode()]  # fmt: skip
        if found:
            return found
    return []


def test_a_prediction_answers_its_request_id_and_feedback_sends_the_truth(model_server, kafka):
    rows, truth = labelled_rows(3)
    status, answer = post(f"{model_server.http}/api/v1.0/predictions",
                          {"data": {"names": list(FEATURES), "ndarray": rows}})  # fmt: skip
    assert status == 200, answer
    request_id = answer["meta"]["puid"]
    assert len(request_id) == 32  # made by the server: the client sent none
    logged = [json.loads(m.value) for m in kafka.read(load_settings().request_topic, timeout=2)
              if m.key == request_id.encode()]  # fmt: skip
    assert [m["request_id"] for m in logged] == [request_id]

    status, body = post(f"{model_server.http}/api/v1.0/feedback", {
        "request": {"data": {"names": list(FEATURES), "ndarray": rows}},
        "response": answer, "truth": {"data": {"ndarray": [[v] for v in truth]}}, "reward": 1,
    })  # fmt: skip
    assert status == 200, body
    [message] = label_messages(kafka, request_id)
    import jsonschema

    jsonschema.validate(message, labels_schema())
    assert message["labels"] == truth and message["source"] == "feedback"


def test_feedback_over_grpc_lands_in_the_same_place(model_server, kafka):
    import grpc
    from seldon_core.proto.prediction_pb2_grpc import ModelStub
    from seldon_core.utils import json_to_feedback

    rows, truth = labelled_rows(2)
    request_id = "grpc-feedback-1"
    feedback = json_to_feedback({
        "request": {"meta": {"puid": request_id},
                    "data": {"names": list(FEATURES), "ndarray": rows}},
        "truth": {"data": {"ndarray": truth}},
    })  # fmt: skip
    with grpc.insecure_channel(f"127.0.0.1:{model_server.grpc_port}") as channel:
        ModelStub(channel).SendFeedback(feedback, timeout=30)
    [message] = label_messages(kafka, request_id)
    assert message["labels"] == truth


BAD_FEEDBACK = {
    "no request id": ({"truth": {"data": {"ndarray": [1]}}}, "meta.puid"),
    "no truth": ({"response": {"meta": {"puid": "x1"}}}, "data.ndarray"),
    "empty truth": ({"response": {"meta": {"puid": "x2"}}, "truth": {"data": {"ndarray": []}}},
                    "no labels"),
{%- if cookiecutter.task == "classification" %}
    "not a class": ({"response": {"meta": {"puid": "x3"}},
                     "truth": {"data": {"ndarray": ["no-such-class"]}}}, "row 0"),
{%- else %}
    "not a number": ({"response": {"meta": {"puid": "x3"}},
                      "truth": {"data": {"ndarray": ["twelve"]}}}, "row 0"),
{%- endif %}
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_FEEDBACK))
def test_bad_feedback_is_refused_naming_what_is_wrong_and_sends_nothing(model_server, kafka, case):
    body, words = BAD_FEEDBACK[case]
    before = len(kafka.read(load_settings().labels_topic, timeout=1))
    status, answer = post(f"{model_server.http}/api/v1.0/feedback", body)
    assert status == 400, answer
    assert words in json.dumps(answer)
    assert len(kafka.read(load_settings().labels_topic, timeout=1)) == before
{%- endif %}
