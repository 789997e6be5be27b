"""Alerts and dashboards: rule unit tests (promtool), PromQL that parses, Grafana JSON that is
consistent, and metric names that the real processes export.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from {{ cookiecutter.package_name }}.data import FEATURES, load_dataset, sample_rows
from {{ cookiecutter.package_name }}.monitoring import grafana
from {{ cookiecutter.package_name }}.settings import DRIFT_DETECTION, MODEL_NAME
from {{ cookiecutter.package_name }}.tasks import task

from ..probes import post, promtool, scrape

ONE_ROW = sample_rows(1).to_numpy().tolist()  # a real row of the model's features

REPO = Path(__file__).resolve().parents[2]
RULE = yaml.safe_load((REPO / grafana.RULE_FILE).read_text())
ALERTS = json.loads((REPO / grafana.OUTPUT_DIR / grafana.ALERTS_FILE).read_text())
DASHBOARD = json.loads((REPO / grafana.OUTPUT_DIR / grafana.DASHBOARD_FILE).read_text())


def rules_of(rule: dict) -> list[dict]:
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def run_rule_tests(rule: dict, folder: Path) -> subprocess.CompletedProcess:
    """promtool checks plain rule files: test the PrometheusRule's spec, as Prometheus sees it."""
    (folder / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    shutil.copy(REPO / "tests" / "monitoring" / "rules.test.yaml", folder)
    checked = subprocess.run(
        [promtool(), "check", "rules", str(folder / "rules.yaml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return subprocess.run(
        [promtool(), "test", "rules", str(folder / "rules.test.yaml")],
        capture_output=True,
        text=True,
    )


def test_the_rule_matches_its_schema():
    schema = json.loads((REPO / "tests" / "schemas" / "prometheusrule.schema.json").read_text())
    jsonschema.validate(RULE, schema)


def test_every_alert_fires_and_stays_silent_in_its_unit_tests(tmp_path):
    result = run_rule_tests(RULE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    tests = yaml.safe_load((REPO / "tests" / "monitoring" / "rules.test.yaml").read_text())
    cases = [case for group in tests["tests"] for case in group.get("alert_rule_test", [])]
    for alert in (r["alert"] for r in rules_of(RULE) if "alert" in r):
        outcomes = {bool(c["exp_alerts"]) for c in cases if c["alertname"] == alert}
        assert outcomes == {True, False}, f"{alert} needs a firing and a silent test"


@pytest.mark.parametrize(
    ("before", "after"),
    [("> 0.05", "> 0.5"), ("for: 15m", "for: 45m"), ("> 10000", "> 100000")],
)
def test_a_changed_threshold_or_duration_fails_the_unit_tests(before, after, tmp_path):
    text = (REPO / grafana.RULE_FILE).read_text()
    if before not in text:
        pytest.skip(f"no {before!r} in this repo's rules")
    result = run_rule_tests(yaml.safe_load(text.replace(before, after, 1)), tmp_path)
    assert result.returncode != 0, "the unit tests must notice a changed alert"


def every_expression() -> dict[str, str]:
    """Every PromQL expression: rules, Grafana alert queries, dashboard targets."""
    found = {f"rule {r.get('alert') or r.get('record')}": r["expr"] for r in rules_of(RULE)}
    for rule in ALERTS["groups"][0]["rules"]:
        for query in rule["data"]:
            if "expr" in query["model"]:
                found[f"grafana alert {rule['title']}"] = query["model"]["expr"]
    for panel in DASHBOARD["panels"]:
        for target in panel["targets"]:
            found[f"panel {panel['title']} {target['refId']}"] = target["expr"]
    return found


def test_every_promql_expression_parses(tmp_path):
    expressions = every_expression()
    group = {
        "groups": [
            {
                "name": "parse",
                "rules": [
                    {"record": f"parse:expression:{i}", "expr": expr}
                    for i, expr in enumerate(expressions.values())
                ],
            }
        ]
    }
    (tmp_path / "parse.yaml").write_text(yaml.safe_dump(group))
    result = subprocess.run(
        [promtool(), "check", "rules", str(tmp_path / "parse.yaml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_grafana_files_are_generated_from_the_rule():
    for name, text in grafana.render(REPO).items():
        on_disk = (REPO / grafana.OUTPUT_DIR / name).read_text()
        assert on_disk == text, f"{name} is stale: run `make monitoring`"


def test_grafana_alerts_follow_the_provisioning_schema_and_the_rule():
    schema = json.loads((REPO / "tests" / "schemas" / "grafana-alerting.schema.json").read_text())
    jsonschema.validate(ALERTS, schema)
    rules = ALERTS["groups"][0]["rules"]
    assert len({r["uid"] for r in rules}) == len(rules), "alert uids must be unique"
    prometheus = {r["alert"]: r for r in rules_of(RULE) if "alert" in r}
    assert {r["title"] for r in rules} == set(prometheus)
    for rule in rules:
        refs = [query["refId"] for query in rule["data"]]
        assert len(set(refs)) == len(refs) and rule["condition"] in refs, rule["title"]
        for query in rule["data"]:
            assert query["datasourceUid"] in {grafana.DATASOURCE_UID, grafana.EXPRESSION_UID}
            if query["model"].get("expression"):
                assert query["model"]["expression"] in refs, rule["title"]
        source = prometheus[rule["title"]]
        assert rule["data"][0]["model"]["expr"].startswith("count by (model, namespace) (")
        assert rule["for"] == source["for"], rule["title"]
        assert rule["labels"]["severity"] == source["labels"]["severity"], rule["title"]


def test_the_dashboard_is_consistent():
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(set(ids)) == len(ids), "panel ids must be unique"
    variables = {variable["name"] for variable in DASHBOARD["templating"]["list"]}
    for panel in DASHBOARD["panels"]:
        uid = panel["datasource"]["uid"]
        variable = uid.removeprefix("${").removesuffix("}")
        assert variable in variables or uid == grafana.DATASOURCE_UID, panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(set(refs)) == len(refs), panel["title"]
        # Staging and production are told apart: every query is limited to the chosen ones.
        for target in panel["targets"]:
            assert 'namespace=~"$namespace"' in target["expr"], (panel["title"], target["expr"])
    environment = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == "namespace")
    assert environment["query"].endswith(", namespace)") and environment["allValue"] == ".*"
    titles = {panel["title"] for panel in DASHBOARD["panels"]}
    assert {"Requests per second", "Prediction latency"} <= titles
    predicted = [p["title"] for p in DASHBOARD["panels"]
                 if any("model_predictions_total" in t["expr"] for t in p["targets"])]  # fmt: skip
    assert len(predicted) == 1, predicted  # what the model predicts (tasks/): one panel
    if DRIFT_DETECTION:
        assert {"Drift p-value per feature", "Drift detected", "Drift consumer lag",
                "Quality against ground truth (last window)"} <= titles  # fmt: skip


def metric_names(expression: str) -> set[str]:
    """Metric names a PromQL expression selects (recording rules, with ':', excluded)."""
    names = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_:]*)\s*\{", expression))
    return {name for name in names if ":" not in name}


def exported_names(text: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


@pytest.mark.slow
def test_every_metric_the_alerts_and_dashboard_use_is_exported(
    model_server, kafka, trained, state_dir
):
    """Scrape the real model server (and drift service): a renamed metric fails here."""
    from {{ cookiecutter.package_name }}.runtimes import protocol

    predictions = f"{model_server.http}{protocol.PREDICT_PATH}"
    assert post(predictions, protocol.request_body(ONE_ROW))[0] == 200
    assert post(predictions, protocol.request_body([[5.1]]))[0] == 400
    # A runtime may hand its metrics over with a later answer (for example the first
    # one a second after its last report): predict until the failed request shows.
    exported = exported_names(scrape(model_server.metrics))
    deadline = time.monotonic() + 30
    while "model_request_errors_total" not in exported and time.monotonic() < deadline:
        time.sleep(0.5)
        assert post(predictions, protocol.request_body(ONE_ROW))[0] == 200
        exported = exported_names(scrape(model_server.metrics))
    if DRIFT_DETECTION:
        from {{ cookiecutter.package_name }}.drift.config import load_config

        from ..drift.drift_process import (
            model_outputs,
            one_row_messages,
            output_names,
            produce,
            start_drift_service,
            traffic,
        )

        topic, labels = f"{MODEL_NAME}-monitoring-test", f"{MODEL_NAME}-monitoring-labels"
        kafka.create_topic(topic)
        kafka.create_topic(labels)
        service = start_drift_service(
            state_dir,
            "monitoring",
            MODEL_VERSION=trained.version,
            REQUEST_TOPIC=topic,
            LABELS_TOPIC=labels,
            QUALITY_WINDOW_ROWS="10",
            DRIFT_START_OFFSET="earliest",
        )
        try:
            rows = traffic(load_dataset()[list(FEATURES)].to_numpy(), load_config().window_size, 1)
            outputs = model_outputs(trained.version, rows)
            messages = one_row_messages(rows, trained.version, outputs)
            produce(kafka, topic, messages)
            # Each prediction's label: the model's own answer (quality is not the point here).
            truth = [
                json.dumps({"request_id": json.loads(m)["request_id"],
                            "labels": [task.predicted(o, output_names())]}).encode()
                for m, o in zip(messages, outputs.tolist(), strict=True)
            ]  # fmt: skip
            produce(kafka, labels, truth)
            service.wait_for(
                lambda: service.value("drift_windows_processed_total") >= 1, "a window"
            )
            service.wait_for(lambda: service.value("model_quality_windows_total") >= 1,
                             "a quality window", timeout=30)  # fmt: skip
            exported |= exported_names(service.metrics())
        finally:
            service.stop()
    used = {name for expression in every_expression().values() for name in metric_names(expression)}
    assert used, "the rules use metrics"
    assert used <= exported, f"used but not exported: {sorted(used - exported)}"
