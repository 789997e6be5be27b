"""The join of labels to predictions, and its figures, against a direct computation."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.drift.messages import MAX_MESSAGE_BYTES, SkippedMessage
from {{ cookiecutter.package_name }}.quality import state
from {{ cookiecutter.package_name }}.quality.join import Joiner
from {{ cookiecutter.package_name }}.quality.messages import parse_label, parse_prediction
from {{ cookiecutter.package_name }}.settings import MODEL_NAME, PACKAGE_NAME
from {{ cookiecutter.package_name }}.tasks import task

from .labelled import (
    START,
    direct,
    label_message,
    new_id,
    output_names,
    prediction_message,
    rows,
)

HORIZON, GRACE, WINDOW = 100.0, 30.0, 100


def feed(joiner: Joiner, events: list[tuple[str, bytes]]) -> None:
    """As the service handles each message of its two topics."""
    names = output_names()
    for topic, value in events:
        try:
            if topic == "requests":
                joiner.add_prediction(parse_prediction(value, MODEL_NAME, "1", names))
            else:
                joiner.add_label(parse_label(value, MODEL_NAME, names))
        except SkippedMessage as skipped:
            joiner.skip(topic, skipped.reason)


def traffic(count: int = 1000, seed: int = 3):
    """One-row requests a second apart; per request id a fate: labelled 5 s later (in time),
    150 s later (late: the horizon is 100 s), never, or twice (a duplicate); plus labels of
    ids never predicted and labels of the wrong width. Returns the events and the fates."""
    rng = random.Random(seed)
    _, outputs, labels = rows(count, seed)
    ids = [new_id() for _ in range(count)]
    fate = {i: rng.choices(["in_time", "late", "never", "twice", "wide"], [75, 10, 8, 4, 3])[0]
            for i in range(count)}  # fmt: skip
    later: dict[int, list[bytes]] = {}
    for i in range(count):
        if fate[i] in ("in_time", "twice"):
            later.setdefault(i + 5, []).append(label_message(ids[i], [labels[i]]))
        if fate[i] == "twice":
            later.setdefault(i + 6, []).append(label_message(ids[i], [labels[i]]))
        if fate[i] == "late":
            later.setdefault(i + 150, []).append(label_message(ids[i], [labels[i]]))
        if fate[i] == "wide":
            later.setdefault(i + 5, []).append(label_message(ids[i], [labels[i]] * 2))
    for n in range(10):  # labels of requests nobody logged
        later.setdefault(200 + n, []).append(label_message(new_id(), [labels[n]], START + 200))
    events = []
    for i in range(count):
        events.append(("requests", prediction_message(ids[i], START + i, [outputs[i].tolist()])))
        events += [("labels", value) for value in later.get(i, [])]
    return events, fate, outputs, labels


def test_the_figures_equal_a_direct_computation_over_the_same_rows():
    events, fate, outputs, labels = traffic()
    joiner = Joiner(output_names(), HORIZON, GRACE, WINDOW)
    feed(joiner, events)
    count, names = len(fate), output_names()
    # Labelled in order of their labels' arrival (5 s after the prediction): by request.
    matched = [i for i in range(count - 5) if fate[i] in ("in_time", "twice")]
    full = len(matched) // WINDOW * WINDOW
    last = matched[full - WINDOW : full]
    expected = direct([task.predicted(outputs[i], names) for i in last],
                      [task.label(labels[i], names) for i in last])  # fmt: skip
    assert joiner.quality["default"] == pytest.approx(expected, rel=1e-12)
    assert joiner.window_counts == {"default": len(matched) // WINDOW}
    # Settled: everything older than the horizon at the last prediction (t = count - 1).
    settled = range(count - 1 - int(HORIZON))
    unlabelled = [i for i in settled if fate[i] in ("late", "never", "wide")]
    assert joiner.prediction_rows[("default", "labelled")] == len(matched)
    assert joiner.prediction_rows[("default", "unlabelled")] == len(unlabelled)
    assert joiner.label_counts == {
        "matched": len(matched),
        "late": sum(1 for i in range(count - 150) if fate[i] == "late"),
        "duplicate": sum(1 for i in range(count - 6) if fate[i] == "twice"),
        "unknown_id": 10,
        "wrong_width": sum(1 for i in range(count - 5) if fate[i] == "wide"),
    }
    assert len(joiner.pending) == count - len(matched) - len(unlabelled)


def test_a_label_read_before_its_prediction_joins_it_and_one_never_predicted_is_unknown():
    _, outputs, labels = rows(3, seed=5)
    names, (early, orphan, tick) = output_names(), (new_id(), new_id(), new_id())
    joiner = Joiner(names, HORIZON, GRACE, window_size=1)
    feed(joiner, [
        ("labels", label_message(early, [labels[0]], START)),  # its topic was read first
        ("labels", label_message(orphan, [labels[1]], START)),
        ("requests", prediction_message(early, START, [outputs[0].tolist()])),
    ])  # fmt: skip
    assert joiner.label_counts["matched"] == 1 and len(joiner.waiting) == 1
    feed(joiner, [("requests", prediction_message(tick, START + GRACE + 1, [outputs[2].tolist()]))])
    assert joiner.label_counts["unknown_id"] == 1 and not joiner.waiting
    expected = direct([task.predicted(outputs[0], names)], [task.label(labels[0], names)])
    assert joiner.quality["default"] == pytest.approx(expected)


def test_each_predictor_is_measured_apart():
    _, outputs, labels = rows(40, seed=6)
    names, events, kept = output_names(), [], {"stable": [], "candidate": []}
    for i in range(40):
        predictor, request = ("stable", "candidate")[i % 2], new_id()
        events.append(("requests", prediction_message(request, START + i, [outputs[i].tolist()],
                                                      predictor=predictor)))  # fmt: skip
        events.append(("labels", label_message(request, [labels[i]])))
        kept[predictor].append(i)
    joiner = Joiner(names, HORIZON, GRACE, window_size=20)
    feed(joiner, events)
    for predictor, indices in kept.items():
        expected = direct([task.predicted(outputs[i], names) for i in indices],
                          [task.label(labels[i], names) for i in indices])  # fmt: skip
        assert joiner.quality[predictor] == pytest.approx(expected)


@pytest.mark.parametrize("cut", [1, 137, 501, 998, 1400])
def test_a_state_saved_and_read_back_mid_stream_gives_the_same_figures(cut, tmp_path):
    """What a restart does: save (as JSON, to a file), load into a new joiner, read on."""
    events, *_ = traffic()
    whole = Joiner(output_names(), HORIZON, GRACE, WINDOW)
    feed(whole, events)
    first = Joiner(output_names(), HORIZON, GRACE, WINDOW)
    feed(first, events[:cut])
    state.save(tmp_path, MODEL_NAME, "1", first.snapshot(), {"0@t": cut})
    saved = state.load(tmp_path, MODEL_NAME)
    assert saved is not None and saved["positions"] == {"0@t": cut}
    second = Joiner(output_names(), HORIZON, GRACE, WINDOW)
    second.restore(saved["joiner"])
    feed(second, events[cut:])
    assert second.snapshot() == whole.snapshot()


def test_a_saved_state_that_is_not_this_models_is_refused_naming_the_file(tmp_path):
    path = tmp_path / state.STATE_FILE
    path.write_text("{not json")
    with pytest.raises(state.StateError, match=f"{path}.*move it away"):
        state.load(tmp_path, MODEL_NAME)
    state.save(tmp_path, "another-model", "1", Joiner([], 1, 1, 1).snapshot(), {})
    with pytest.raises(state.StateError, match="another-model"):
        state.load(tmp_path, MODEL_NAME)
    assert state.load(tmp_path / "empty", MODEL_NAME) is None
    assert not list(tmp_path.glob(".*partial"))  # saves leave no half-written file


def test_a_restart_resumes_only_the_state_of_the_same_version_of_the_same_registry(tmp_path):
    """A version number alone is not a model: a new registry (a new local stack, MLflow
    rebuilt) numbers its own versions from 1 again, and their quality starts from nothing."""
    from {{ cookiecutter.package_name }}.drift.service import WatchedVersion
    from {{ cookiecutter.package_name }}.quality.service import QualityMonitor
    from {{ cookiecutter.package_name }}.settings import load_settings

    settings = load_settings({
        "QUALITY_STATE_DIR": str(tmp_path), "QUALITY_WINDOW_ROWS": str(WINDOW),
        "QUALITY_HORIZON_SECONDS": str(HORIZON), "QUALITY_GRACE_SECONDS": str(GRACE),
    })  # fmt: skip

    def monitor(version: str, run_id: str) -> QualityMonitor:
        return QualityMonitor(settings, WatchedVersion(MODEL_NAME, version, run_id),
                              output_names(), {})  # fmt: skip

    events, *_ = traffic()
    first = monitor("1", "run-a")
    feed(first.joiner, events)
    first.positions = {"0@requests": 1000}
    first.save()
    measured = first.joiner.snapshot()
    assert measured["pending"] or measured["settled"]
    assert monitor("1", "run-a").joiner.snapshot() == measured  # the same version: resumed
    for other in (monitor("1", "run-b"), monitor("2", "run-a")):  # another registry / version
        assert other.joiner.snapshot() == Joiner(output_names(), HORIZON, GRACE, WINDOW).snapshot()
        assert other.positions == {"0@requests": 1000}  # its messages are not read again
    # A state saved before states named their run: taken at its version's word.
    body = json.loads((tmp_path / state.STATE_FILE).read_text())
    del body["run_id"]
    (tmp_path / state.STATE_FILE).write_text(json.dumps(body))
    assert monitor("1", "run-b").joiner.snapshot() == measured
    body["run_id"] = 7
    (tmp_path / state.STATE_FILE).write_text(json.dumps(body))
    with pytest.raises(state.StateError, match="run id"):
        monitor("1", "run-a")


def test_a_prediction_logged_twice_counts_once():
    _, outputs, labels = rows(1, seed=7)
    request, names = new_id(), output_names()
    joiner = Joiner(names, HORIZON, GRACE, window_size=1)
    twice = prediction_message(request, START, [outputs[0].tolist()])
    feed(joiner, [("requests", twice), ("requests", twice),
                  ("labels", label_message(request, [labels[0]]))])  # fmt: skip
    assert joiner.duplicate_predictions == 1
    assert joiner.prediction_rows == {("default", "labelled"): 1}


def _label(**changes) -> bytes:
    body = {"request_id": "r1", "labels": [_valid_label()]} | changes
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def _valid_label():
    return rows(1, seed=1)[2][0]


BAD_LABELS = {
    "not_json": lambda: b"{labels",
    "not_json-binary": lambda: b"\xff\xfe",
    "too_large": lambda: b" " * (MAX_MESSAGE_BYTES + 1),
    "schema-array": lambda: b"[]",
    "schema-no-labels": lambda: _label(labels=...),
    "schema-id-number": lambda: _label(request_id=7),
    "schema-empty-id": lambda: _label(request_id=""),
    "schema-long-id": lambda: _label(request_id="x" * 201),
    "schema-unknown-key": lambda: _label(extra=1),
    "schema-timestamp": lambda: _label(timestamp="yesterday"),
    "other_model": lambda: _label(model_name="another-model"),
    "wrong_width-empty": lambda: _label(labels=[]),
    "wrong_types-bool": lambda: _label(labels=[True]),
    "wrong_types-null": lambda: _label(labels=[None]),
    "wrong_types-nested": lambda: _label(labels=[[1]]),
{%- if cookiecutter.task == "classification" %}
    "wrong_types-class": lambda: _label(labels=["no-such-class"]),
{%- else %}
    "wrong_types-huge": lambda: b'{"request_id": "r1", "labels": [1e999]}',
    "wrong_types-text": lambda: _label(labels=["12.5"]),
{%- endif %}
}


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_a_bad_label_message_is_skipped_with_its_reason(case):
    with pytest.raises(SkippedMessage) as raised:
        parse_label(BAD_LABELS[case](), MODEL_NAME, output_names())
    assert raised.value.reason == case.split("-")[0]


def test_a_prediction_of_another_version_or_outputs_is_skipped():
    _, outputs, _ = rows(1, seed=8)
    good = prediction_message("r", START, [outputs[0].tolist()])
    assert parse_prediction(good, MODEL_NAME, "1", output_names()).predictor == "default"
    with pytest.raises(SkippedMessage, match="other_version"):
        parse_prediction(good, MODEL_NAME, "2", output_names())
    with pytest.raises(SkippedMessage, match="wrong_width"):
        parse_prediction(good, MODEL_NAME, "1", [*output_names(), "extra"])
    bad = json.loads(good) | {"predictions": [[float("nan")] * len(output_names())]}
    with pytest.raises(SkippedMessage, match="wrong_types"):
        parse_prediction(json.dumps(bad).encode(), MODEL_NAME, "1", output_names())


def test_the_quality_of_the_task_equals_scikit_learns():
    _, outputs, labels = rows(500, seed=9)
    names = output_names()
    predicted = [task.predicted(row, names) for row in outputs]
    actual = [task.label(v, names) for v in labels]
    assert task.quality(predicted, actual) == pytest.approx(direct(predicted, actual), rel=1e-12)
    assert np.isfinite(list(task.quality(predicted, actual).values())).all()


def test_memory_is_bounded_the_oldest_waiting_prediction_counts_as_unlabelled():
    _, outputs, labels = rows(30, seed=10)
    ids = [new_id() for _ in range(30)]
    joiner = Joiner(output_names(), HORIZON, GRACE, window_size=1, max_pending=10)
    feed(joiner, [("requests", prediction_message(ids[i], START + i, [outputs[i].tolist()]))
                  for i in range(30)])  # fmt: skip
    assert len(joiner.pending) == 10 and joiner.evicted == 20
    assert joiner.prediction_rows[("default", "unlabelled")] == 20
    assert len(joiner.settled) == 10  # the ten settled last are remembered
    feed(joiner, [("labels", label_message(ids[i], [labels[i]])) for i in (0, 15, 29)])
    assert joiner.label_counts["unknown_id"] == 0 and len(joiner.waiting) == 1  # id 0: forgotten
    assert joiner.label_counts["late"] == 1 and joiner.label_counts["matched"] == 1


def test_the_documented_schema_refuses_what_the_monitor_calls_a_schema_error():
    """schemas/labels.schema.json is what senders validate against: a message it accepts the
    monitor reads, and what the monitor skips as `schema` the schema refuses too."""
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files(PACKAGE_NAME).joinpath("schemas", "labels.schema.json").read_text())
    checker = jsonschema.FormatChecker()  # the timestamp's date-time format included
    good = json.loads(label_message("r1", [_valid_label()], START))
    jsonschema.validate(good, schema, format_checker=checker)
    assert parse_label(json.dumps(good).encode(), MODEL_NAME, output_names()).request_id == "r1"
    for case in (c for c in BAD_LABELS if c.startswith("schema-")):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(json.loads(BAD_LABELS[case]()), schema, format_checker=checker)
