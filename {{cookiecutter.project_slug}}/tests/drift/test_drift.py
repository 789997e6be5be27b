"""Drift detection: config, messages, windows, the detector, and the real drift service.

The service tests run real processes: the model server, a Kafka-protocol broker, MLflow
and `{{ cookiecutter.project_slug }} drift` itself, scraped over HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from {{ cookiecutter.package_name }}.data import FEATURES, TARGET, load_dataset
from {{ cookiecutter.package_name }}.drift import detector, libraries
from {{ cookiecutter.package_name }}.drift.base import DriftLibrary
from {{ cookiecutter.package_name }}.drift.config import (
    CATEGORICAL_KINDS,
    KINDS,
    DriftConfig,
    DriftConfigError,
    load_config,
    parse_config,
)
from {{ cookiecutter.package_name }}.drift.messages import SkippedMessage, parse
from {{ cookiecutter.package_name }}.drift.windows import WindowBuffer
from {{ cookiecutter.package_name }}.request_log import message_schema
from {{ cookiecutter.package_name }}.runtimes import protocol
from {{ cookiecutter.package_name }}.settings import (
    DRIFT_LIBRARY,
    MODEL_NAME,
    SettingsError,
    load_settings,
)

from ..probes import metric_total, post, promtool
from .drift_process import (
    NAMES,
    SHIFTED,
    DriftProcess,
    committed_offset,
    continuous,
    encode,
    message,
    model_outputs,
    one_row_messages,
    produce,
    start_drift_service,
    traffic,
)

# -- the config file ------------------------------------------------------------------------
SUPPORTED = [kind for kind in KINDS if kind in libraries.kinds()]  # in the order of KINDS


def test_the_shipped_config_is_valid():
    config = load_config()
    assert config.kind == "tabular"
    assert config.features == tuple(FEATURES)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "MMDDrift"}, f"kind='MMDDrift': must be one of {', '.join(SUPPORTED)}"),
        ({"kind": "TabularDrift"}, "kind='TabularDrift': now named 'tabular'"),
        ({"kind": "ChiSquareDrift"}, "kind='ChiSquareDrift': now named 'chi2'"),
        ({"kind": ["ks"]}, "kind=['ks']: must be one of"),
        ({"p_value": 0}, "p_value=0: must be a number between 0 and 1"),
        ({"p_value": 1.5}, "p_value=1.5"),
        ({"p_value": "0.05"}, "p_value='0.05'"),
        ({"p_value": True}, "p_value=True"),
        ({"window_size": 5}, "window_size=5: must be an integer >= 10"),
        ({"window_size": 100.0}, "window_size=100.0"),
        ({"reference_sample_size": 3}, "reference_sample_size=3: must be an integer >= 20"),
        ({"features": ["height"]}, "features: unknown feature(s) 'height'"),
        ({"features": "all"}, "features='all': must be a list of feature names"),
        ({"features": [NAMES[0], NAMES[0]]}, "features: listed twice"),
        ({"features": [NAMES[0]], "categorical_features": [NAMES[1]]}, "not among the watched"),
        ({"kind": "chi2"}, "kind='chi2' tests categories: list every watched feature"),
        ({"kind": "ks", "categorical_features": [NAMES[0]]}, "kind='ks' tests numbers only"),
        ({"kind": "cvm", "categorical_features": [NAMES[0]]}, "kind='cvm' tests numbers only"),
        ({"windw_size": 100}, "unknown key 'windw_size'"),
    ],
)
def test_an_invalid_config_is_rejected_naming_the_key(raw, message):
    with pytest.raises(DriftConfigError) as error:
        parse_config(raw)
    assert message in str(error.value)


def test_every_problem_of_a_config_is_reported_at_once():
    with pytest.raises(DriftConfigError) as error:
        parse_config({"kind": "x", "p_value": 2, "window_size": 1})
    assert len(str(error.value).splitlines()) == 3


def test_an_unreadable_or_broken_config_file_names_the_file(tmp_path):
    broken = tmp_path / "drift.toml"
    broken.write_text("kind = \n")
    with pytest.raises(DriftConfigError, match=r"drift\.toml: not valid TOML"):
        load_config(broken)
    with pytest.raises(DriftConfigError, match=r"missing\.toml: cannot be read"):
        load_config(tmp_path / "missing.toml")


def test_features_keep_the_model_order_and_the_config_round_trips():
    config = parse_config({"features": NAMES[::-1], "categorical_features": [NAMES[3]]})
    assert config.features == tuple(NAMES)
    assert config.feature_indices == list(range(len(NAMES)))
    assert parse_config(config.as_dict()) == config


def test_service_settings_are_validated():
    with pytest.raises(SettingsError, match="DRIFT_START_OFFSET='middle'"):
        load_settings({"DRIFT_START_OFFSET": "middle"})
    with pytest.raises(SettingsError, match="DRIFT_HTTP_PORT='http'"):
        load_settings({"DRIFT_HTTP_PORT": "http"})


# -- request-log messages -------------------------------------------------------------------
ROW = [round(value, 4) for value in load_dataset()[NAMES].iloc[0]]  # a short message


def _with_second(value: object) -> list:
    return [ROW[0], value, *ROW[2:]]


BAD_MESSAGES = {
    "not_json": b"\xff\xfe not json",
    "schema": encode(["a", "list"]),
    "schema-missing-rows": encode({k: v for k, v in message([ROW]).items() if k != "rows"}),
    "other_model": encode(message([ROW], model_name="another-model")),
    "other_version": encode(message([ROW], version="2")),
    "wrong_width": encode(message([ROW[:-1]])),
    "wrong_width-names": encode(message([ROW], feature_names=NAMES[::-1])),
    "wrong_types": encode(message([_with_second("3.5")])),
    "wrong_types-bool": encode(message([_with_second(True)])),
    "wrong_types-null": encode(message([_with_second(None)])),
    "wrong_types-huge-int": encode(message([_with_second(10**400)])),  # no float has it
    "not_json-nested": b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser's recursion
    "not_json-long-int": b'{"rows": [[' + b"9" * 5000 + b"]]}",  # over Python's 4300 digits
    "too_large": encode(message([ROW] * 50_000)),  # over what a request log message can be
}


def test_a_valid_message_gives_its_rows():
    body = message([ROW, ROW])
    jsonschema.validate(body, message_schema())  # the same format the server writes
    request = parse(encode(body), MODEL_NAME, "1", NAMES)
    assert request.rows == [ROW, ROW] and request.predictor == "default"


def test_the_predictions_follow_the_rows_when_the_outputs_are_watched():
    body = message([ROW, ROW], predictions=[[0.2, 0.8], [0.6, 0.4]])
    jsonschema.validate(body, message_schema())
    request = parse(encode(body), MODEL_NAME, "1", NAMES, outputs=2)
    assert request.rows == [[*ROW, 0.2, 0.8], [*ROW, 0.6, 0.4]]
    for predictions, reason in (([[0.2, 0.8]], "wrong_width"), ([[0.2], [0.6]], "wrong_width"),
                                (None, "wrong_width"), ([[0.2, True], [0.6, 0.4]], "wrong_types"),
                                ([[0.2, float("nan")], [0.6, 0.4]], "wrong_types")):  # fmt: skip
        with pytest.raises(SkippedMessage) as skipped:
            parse(encode(message([ROW, ROW], predictions=predictions)), MODEL_NAME, "1", NAMES,
                  outputs=2)  # fmt: skip
        assert skipped.value.reason == reason, predictions


def test_a_detector_with_outputs_flags_a_shift_of_the_predictions_alone(reference, tmp_path):
    from {{ cookiecutter.package_name }}.model import build_model
    from {{ cookiecutter.package_name }}.tasks import task

    frame = load_dataset()
    model = build_model(0).fit(reference, frame[TARGET].to_numpy())
    columns = task.output_columns(task.output_names(model))
    predict = lambda rows: task.outputs(model, rows)  # noqa: E731
    fitted = detector.fit(reference, load_config(), 1, predict, columns)
    detector.save(fitted, tmp_path, NAMES)
    loaded = detector.load(tmp_path, NAMES)
    assert loaded.output_columns == tuple(columns)
    rows = traffic(reference, 200, seed=2)
    outputs = task.outputs(model, rows)
    calm = loaded.test(np.hstack([rows, outputs]))
    assert not calm.drift and set(calm.p_values) == {*load_config().features, *columns}
    assert calm.threshold == pytest.approx(load_config().p_value / len(calm.p_values))
    assert calm == fitted.test(np.hstack([rows, outputs]))
    # the same inputs, answers the model never gave for them: only the outputs drift
    shifted = loaded.test(np.hstack([rows, outputs[::-1].cumsum(axis=0) / 10]))
    assert shifted.drift and set(shifted.drifted_features) <= set(columns)


@pytest.mark.parametrize("case", sorted(BAD_MESSAGES))
def test_a_bad_message_is_skipped_with_its_reason(case):
    with pytest.raises(SkippedMessage) as skipped:
        parse(BAD_MESSAGES[case], MODEL_NAME, "1", NAMES)
    assert skipped.value.reason == case.split("-")[0]


# -- windows and committable offsets --------------------------------------------------------
def rows(count: int, start: float = 0.0) -> list[list[float]]:
    return (np.arange(count * 4, dtype=float).reshape(count, 4) + start).tolist()


def test_offsets_are_committable_only_once_every_row_before_them_is_tested():
    buffer = WindowBuffer(window_size=10)
    buffer.add(0, 0, rows(6))
    buffer.add(0, 1)  # a skipped message
    buffer.add(0, 2, rows(6))
    assert not buffer.committable()  # nothing tested yet
    window = buffer.take_window()
    assert len(window) == 10 and buffer.pending_rows == 2
    # Message 2 is only partly tested: it must be read again after a restart.
    assert buffer.committable() == {0: 2}
    buffer.add(0, 3, rows(8))
    buffer.take_window()
    assert buffer.committable() == {0: 4} and buffer.pending_rows == 0


def test_windows_keep_the_order_of_rows_across_messages_and_partitions():
    buffer = WindowBuffer(window_size=3)
    buffer.add(0, 5, rows(2))
    buffer.add(1, 9, rows(2, start=100))
    assert buffer.take_window().tolist() == [*rows(2), *rows(1, start=100)]
    assert buffer.committable() == {0: 6}
    with pytest.raises(ValueError, match="only 1 of 3 rows"):
        buffer.take_window()
    buffer.clear()
    assert buffer.pending_rows == 0 and not buffer.committable()


# -- the drift library and the detector ----------------------------------------------------
def test_the_repo_holds_one_drift_library_and_it_meets_the_contract():
    present = sorted(p.name for p in Path(libraries.__file__).parent.iterdir()
                     if (p / "__init__.py").exists())  # fmt: skip
    assert present == [DRIFT_LIBRARY.replace("-", "_")]
    library = libraries.load()
    assert isinstance(library, DriftLibrary)
    assert library.kinds == libraries.kinds() and set(library.kinds) <= set(KINDS)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return load_dataset()[NAMES].to_numpy()


NUMERIC = [kind for kind in libraries.kinds() if kind not in CATEGORICAL_KINDS]
CATEGORICAL = [kind for kind in libraries.kinds() if kind in CATEGORICAL_KINDS]


@pytest.mark.parametrize("kind", NUMERIC)
def test_a_saved_detector_loads_with_identical_results(kind, reference, tmp_path):
    # Measurements (a test of numbers misreads the ties of a code or a flag).
    watched = tuple(n for n, many in zip(NAMES, continuous(reference), strict=True) if many)
    config = DriftConfig(kind=kind, features=watched)
    fitted = detector.fit(reference, config, seed=1)
    detector.save(fitted, tmp_path, NAMES)
    loaded = detector.load(tmp_path, NAMES)
    window = traffic(reference, 100, seed=2, shift=1.5)
    assert loaded.test(window) == fitted.test(window)
    result = loaded.test(window)
    assert result.drift and result.drifted_features == [SHIFTED]
    assert result.threshold == pytest.approx(config.p_value / len(watched))  # Bonferroni
    assert not fitted.test(traffic(reference, 100, seed=3)).drift
    with pytest.raises(detector.DriftDetectorError, match="fitted on features"):
        detector.load(tmp_path, NAMES[:3])


@pytest.mark.parametrize("kind", CATEGORICAL)
def test_a_categorical_detector_on_categorical_features(kind, reference):
    categorical = np.floor(reference)  # whole centimetres as categories
    config = parse_config({"kind": kind, "categorical_features": NAMES})
    fitted = detector.fit(categorical, config, seed=1)
    window = categorical[np.random.default_rng(3).permutation(len(categorical))[:100]]
    assert not fitted.test(window).drift
    shifted = window.copy()
    shifted[:, 2] = 1.0  # every row in one category
    assert fitted.test(shifted).drifted_features == [SHIFTED]


def test_tabular_tests_categories_with_chi2_and_numbers_with_ks(reference):
    """The kinds mean the same in every library: tabular is chi2 per categorical feature and
    ks per numeric one (same reference rows, same window, same p-values and statistics)."""
    if not {"tabular", "ks", "chi2"} <= set(libraries.kinds()):
        pytest.skip(f"{DRIFT_LIBRARY} does not offer tabular, ks and chi2")
    data = reference.copy()
    data[:, 0] = np.floor(data[:, 0])  # the first feature as categories
    window = data[np.random.default_rng(4).permutation(len(data))[:100]]
    window[:, 2] += 0.3
    categorical = {"categorical_features": NAMES[:1]}
    tabular = detector.fit(data, parse_config({"kind": "tabular", **categorical}), seed=1)
    chi2 = detector.fit(data, parse_config({"kind": "chi2", "features": NAMES[:1], **categorical}),
                        seed=1)  # fmt: skip
    ks = detector.fit(data, parse_config({"kind": "ks", "features": NAMES[1:]}), seed=1)
    together = tabular.test(window)
    apart = {**chi2.test(window).p_values, **ks.test(window).p_values}
    assert together.p_values == pytest.approx(apart, rel=1e-6)
    statistics = {**chi2.test(window).statistics, **ks.test(window).statistics}
    assert together.statistics == pytest.approx(statistics, rel=1e-6)


def test_a_detector_of_another_library_or_an_old_config_is_refused(reference, tmp_path):
    fitted = detector.fit(reference, DriftConfig(), seed=1)
    detector.save(fitted, tmp_path, NAMES)
    saved = tmp_path / detector.CONFIG_ARTIFACT
    document = json.loads(saved.read_text())
    assert document["library"] == DRIFT_LIBRARY
    saved.write_text(json.dumps({**document, "library": "another-library"}))
    with pytest.raises(detector.DriftDetectorError, match=r"saved by another-library.*retrain"):
        detector.load(tmp_path, NAMES)
    old = {**document, "config": {**document["config"], "kind": "TabularDrift"}}
    saved.write_text(json.dumps(old))
    with pytest.raises(detector.DriftDetectorError, match=r"now named 'tabular'.*retrain"):
        detector.load(tmp_path, NAMES)


def test_a_missing_detector_directory_is_a_detector_error(reference, tmp_path):
    fitted = detector.fit(reference, DriftConfig(), seed=1)
    detector.save(fitted, tmp_path, NAMES)
    shutil.rmtree(tmp_path / detector.DETECTOR_DIR)
    with pytest.raises(detector.DriftDetectorError, match="retrain"):
        detector.load(tmp_path, NAMES)


# -- the drift service, for real ------------------------------------------------------------
@pytest.mark.slow
def test_training_logs_the_detector_with_the_model(trained, tmp_path):
    path = detector.download(trained.run_id, trained.version, tmp_path)
    document = json.loads((path / "drift.json").read_text())
    assert document["config"] == load_config().as_dict()
    assert document["library"] == DRIFT_LIBRARY
    fitted = detector.load(path, NAMES)
    assert fitted.config == load_config()


@pytest.mark.slow
def test_drift_of_served_traffic_is_reported_per_feature(model_server, trained, kafka, state_dir):
    """Requests through the real model server reach the drift service through Kafka."""
    service = start_drift_service(state_dir, "served", MODEL_VERSION=trained.version)
    reference = load_dataset()[NAMES].to_numpy()
    window = load_config().window_size
    predictions = f"{model_server.http}{protocol.PREDICT_PATH}"
    try:
        labels = {"model": MODEL_NAME, "version": trained.version}

        def send(matrix: np.ndarray) -> None:
            for chunk in np.array_split(matrix, len(matrix) // 10):
                status, body = post(predictions, protocol.request_body(chunk.tolist(), NAMES))
                assert status == 200, body

        send(traffic(reference, 3 * window, seed=11))
        service.wait_for(lambda: service.value("drift_windows_processed_total") >= 3, "3 windows")
        text = service.metrics()
        assert metric_total(text, "drift_detected", **labels) == 0
        assert metric_total(text, "drift_windows_drifted_total", **labels) == 0
        assert metric_total(text, "drift_rows_processed_total", **labels) == 3 * window

        send(traffic(reference, 2 * window, seed=12, shift=1.5))
        service.wait_for(lambda: service.value("drift_windows_processed_total") >= 5, "5 windows")
        text = service.metrics()
        assert metric_total(text, "drift_detected", **labels) == 1
        for feature in NAMES:
            flagged = metric_total(text, "drift_feature_detected", feature=feature)
            assert flagged == (feature == SHIFTED), feature
        p_value = metric_total(text, "drift_p_value", feature=SHIFTED)
        assert p_value < metric_total(text, "drift_threshold", **labels)

        checked = subprocess.run([promtool(), "check", "metrics"], input=text,
                                 capture_output=True, text=True)  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        service.stop()


@dataclass
class Resumed:
    """The restart scenario's facts, and the second service, left running for more tests."""

    service: DriftProcess
    topic: str
    produced: int
    committed_at_kill: int
    pending_at_kill: int


@pytest.fixture(scope="module")
def resumed(trained, kafka, state_dir) -> Iterator[Resumed]:
    """A service killed mid-window on its own topic, and a second one that resumes it."""
    topic, group = f"drift-test-{uuid.uuid4().hex[:8]}", f"drift-test-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic)
    env = {"REQUEST_TOPIC": topic, "DRIFT_CONSUMER_GROUP": group,
           "DRIFT_START_OFFSET": "earliest", "MODEL_VERSION": trained.version}  # fmt: skip
    window = load_config().window_size
    reference = load_dataset()[NAMES].to_numpy()
    first_part = traffic(reference, 5 * window + window // 2, seed=21)
    second_part = traffic(reference, 5 * window - window // 2, seed=22)

    first = start_drift_service(state_dir, "first", **env)
    outputs = model_outputs(trained.version, first_part)
    produce(kafka, topic, one_row_messages(first_part, trained.version, outputs))
    first.wait_for(lambda: first.value("drift_windows_processed_total") == 5, "5 windows")
    first.wait_for(lambda: first.health()[1]["pending_rows"] == window // 2, "pending rows")
    first.wait_for(lambda: committed_offset(kafka, topic, group) == 5 * window, "commit")
    pending = first.health()[1]["pending_rows"]
    os.killpg(first.process.pid, signal.SIGKILL)  # no goodbye: no final commit, no flush
    first.process.wait(10)
    committed = committed_offset(kafka, topic, group)

    outputs = model_outputs(trained.version, second_part)
    produce(kafka, topic, one_row_messages(second_part, trained.version, outputs))
    second = start_drift_service(state_dir, "second", **env)
    yield Resumed(second, topic, len(first_part) + len(second_part), committed, pending)
    second.stop()


@pytest.mark.slow
def test_a_restart_resumes_without_losing_messages(resumed):
    service, window = resumed.service, load_config().window_size
    remaining = resumed.produced - resumed.committed_at_kill
    service.wait_for(lambda: service.value("drift_rows_processed_total") == remaining, "rows")
    # The half window the first service had read but not tested was read again and tested.
    assert resumed.pending_at_kill == window // 2
    assert resumed.committed_at_kill + remaining == resumed.produced == 10 * window
    service.wait_for(lambda: service.value("drift_consumer_lag_messages") == 0, "no lag")


@pytest.mark.slow
def test_malformed_messages_are_counted_and_processing_goes_on(resumed, kafka, trained):
    service, window = resumed.service, load_config().window_size
    windows_before = service.value("drift_windows_processed_total")
    produce(kafka, resumed.topic, list(BAD_MESSAGES.values()))
    rows = traffic(load_dataset()[NAMES].to_numpy(), window, seed=31)
    outputs = model_outputs(trained.version, rows)
    produce(kafka, resumed.topic, one_row_messages(rows, trained.version, outputs))
    service.wait_for(
        lambda: service.value("drift_windows_processed_total") == windows_before + 1, "a window"
    )
    text = service.metrics()
    for reason in {case.split("-")[0] for case in BAD_MESSAGES}:
        expected = sum(1 for case in BAD_MESSAGES if case.split("-")[0] == reason)
        assert metric_total(text, "drift_messages_skipped_total", reason=reason) == expected


@pytest.mark.slow
def test_a_broker_outage_shows_in_health_and_processing_resumes(resumed, kafka, trained):
    if kafka.external:
        pytest.skip("an external broker cannot be stopped by the tests")
    service, window = resumed.service, load_config().window_size
    kafka.stop()
    try:
        service.wait_for(lambda: service.health()[0] == 503, "health 503", timeout=60)
        detail = service.health()[1]
        assert detail["broker"].startswith("down")
        assert service.value("drift_broker_up") == 0
    finally:
        kafka.restart()  # in-memory broker: its topics are created again, empty
    service.wait_for(lambda: service.health()[0] == 200, "health 200", timeout=90)
    service.wait_until_consuming()
    windows_before = service.value("drift_windows_processed_total")
    rows = traffic(load_dataset()[NAMES].to_numpy(), window, seed=41)
    outputs = model_outputs(trained.version, rows)
    produce(kafka, resumed.topic, one_row_messages(rows, trained.version, outputs))
    service.wait_for(
        lambda: service.value("drift_windows_processed_total") == windows_before + 1,
        "a window after the outage", timeout=90,
    )  # fmt: skip
    assert service.value("drift_broker_up") == 1


@pytest.mark.slow
def test_the_group_is_joined_again_after_a_broker_restart_with_a_commit_pending(kafka, reference):
    """A window tested while its commit failed, then the broker restarts and the group is
    gone: the service must join again and consume, not stay healthy with no partition."""
    if kafka.external:
        pytest.skip("an external broker cannot be stopped by the tests")
    from {{ cookiecutter.package_name }}.drift.service import DriftService, WatchedVersion

    topic, group = f"drift-test-{uuid.uuid4().hex[:8]}", f"drift-test-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic)
    settings = load_settings({**os.environ, "REQUEST_TOPIC": topic, "DRIFT_CONSUMER_GROUP": group,
                              "DRIFT_START_OFFSET": "earliest"})  # fmt: skip
    fitted = detector.fit(reference, load_config(), seed=1)
    service = DriftService(settings, WatchedVersion(MODEL_NAME, "1", "run"), fitted)
    window = fitted.config.window_size

    def until(condition, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {service.health()}"
            time.sleep(0.1)

    # Driven step by step, as run() drives it: joined, then one window tested whose commit
    # is refused (as when the broker goes away between the test and the commit).
    service._consumer = service._connect()
    runner = threading.Thread(target=service.run, daemon=True)
    try:
        until(lambda: service.step() or service.health()[1]["assigned_partitions"], "a partition")
        produce(kafka, topic, one_row_messages(traffic(reference, window, seed=5), "1"))

        def refuse() -> None:
            if service.buffer.committable():
                raise RuntimeError("commit refused")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(service, "_commit", refuse)
            with pytest.raises(RuntimeError, match="commit refused"):
                until(lambda: service.step() or False, "the window", timeout=30)
        assert service.buffer.committable() == {0: window}
        kafka.restart()  # in-memory broker: the group is gone, the topics are created again
        runner.start()
        until(lambda: not service.health()[1]["assigned_partitions"], "the partition revoked")
        # (tansu may auto-create the topic with more partitions before create_topic runs)
        until(lambda: service.health()[1]["assigned_partitions"], "a partition again")
        produce(kafka, topic, one_row_messages(traffic(reference, window, seed=6), "1"))
        until(lambda: service.buffer.pending_rows or service._committed, "messages consumed again")
        assert service.health()[0]
    finally:
        service.stopping.set()
        if runner.is_alive():
            runner.join(30)  # run() commits and closes the consumer on its way out
        else:
            service._shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("start", ["latest", "earliest"])
def test_where_reading_starts_is_settled_when_the_partition_is_assigned(start, kafka, reference):
    """/health reports a partition only once its starting offset is fixed: a message produced
    right after that is read, whatever DRIFT_START_OFFSET says (CI once lost a window when
    "latest" was looked up after the assignment and traffic came in between)."""
    from confluent_kafka import Consumer, TopicPartition

    from {{ cookiecutter.package_name }}.drift.service import DriftService, WatchedVersion

    topic, group = f"drift-test-{uuid.uuid4().hex[:8]}", f"drift-test-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic)
    settings = load_settings({**os.environ, "REQUEST_TOPIC": topic, "DRIFT_CONSUMER_GROUP": group,
                              "DRIFT_START_OFFSET": start})  # fmt: skip
    service = DriftService(settings, WatchedVersion(MODEL_NAME, "1", "run"),
                           detector.fit(reference, load_config(), seed=1))  # fmt: skip
    for _ in range(3):  # one batch each: tansu reports a batch's end as its first offset + 1
        produce(kafka, topic, [encode(message([[1.0] * len(NAMES)]))])
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": group})
    try:
        partition = [TopicPartition(topic, 0)]
        (first,) = service._starting_offsets(consumer, partition)
        assert first.offset == (3 if start == "latest" else 0)
        consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
        (resumed,) = service._starting_offsets(consumer, partition)
        assert resumed.offset == 2  # the group's own commit wins over DRIFT_START_OFFSET
    finally:
        consumer.close()


@pytest.mark.slow
def test_the_service_refuses_to_start_without_kafka_or_a_detector(mlflow_server, trained):
    env = {**os.environ, "MODEL_VERSION": trained.version}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    result = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "drift"],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1 and "KAFKA_BOOTSTRAP_SERVERS is not set" in result.stderr
    login = {**env, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
             "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_USERNAME": "drift"}  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "drift"],
                            env=login, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1 and "KAFKA_PASSWORD not set" in result.stderr, result.stderr
    env = {**env, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "MODEL_VERSION": "999"}
    result = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "drift"],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1 and "has no version 999" in result.stderr
