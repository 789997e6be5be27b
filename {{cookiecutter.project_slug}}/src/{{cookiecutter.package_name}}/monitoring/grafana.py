"""Grafana alert rules and dashboard of this model, generated as JSON files.

The alert rules are derived from k8s/base/prometheusrule.yaml (the one place thresholds and
durations live), in Grafana's unified-alerting file-provisioning format; the dashboard is
built from the panel list below. `make monitoring` writes both to k8s/base/monitoring/,
where Kustomize wraps them in ConfigMaps for the Grafana sidecars of kube-prometheus-stack.
Standard library and PyYAML only, like the whole of monitoring/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..settings import DRIFT_DETECTION, MODEL_NAME, PREDICTION_LABEL

RULE_FILE = Path("k8s/base/prometheusrule.yaml")
OUTPUT_DIR = Path("k8s/base/monitoring")
ALERTS_FILE = "grafana-alerts.json"
DASHBOARD_FILE = "dashboard.json"
# The Prometheus data source of the platform's Grafana (kube-prometheus-stack gives its
# default Prometheus data source this uid) and Grafana's server-side expressions.
DATASOURCE_UID = "prometheus"
EXPRESSION_UID = "__expr__"
FOLDER = "MLOps"
SELECTOR = f'model="{MODEL_NAME}"'
# The panels show the environments chosen in the dashboard's `namespace` variable (all by
# default): every series keeps the namespace it was scraped in.
PANEL_SELECTOR = f'{SELECTOR},namespace=~"$namespace"'


def _predictions_panel(s: str) -> dict[str, Any]:
    """What the model predicts (tasks/): predictions per label value, or, when they are counted
    in cumulative buckets of predicted values (`le`), the median and the 10th and 90th
    percentiles of the predicted values."""
    if PREDICTION_LABEL == "le":
        return _panel(
            "Predicted values: median, 10th and 90th percentiles",
            "timeseries",
            {
                f"{{{{predictor}}}} p{q}": f"histogram_quantile(0.{q}, sum by (predictor, le) "
                f"(rate(model_predictions_total{{{s}}}[5m])))"
                for q in (10, 50, 90)
            },
        )
    return _panel(
        f"Predictions per {PREDICTION_LABEL.removeprefix('predicted_').replace('_', ' ')}",
        "timeseries",
        {
            f"{{{{predictor}}}} {{{{{PREDICTION_LABEL}}}}}": f"sum by (predictor, "
            f"{PREDICTION_LABEL}) (rate(model_predictions_total{{{s}}}[5m]))"
        },
    )


def alert_rules(prometheus_rule: dict[str, Any]) -> dict[str, Any]:
    """The PrometheusRule's alerts as Grafana alert rules, condition for condition.

    Query A counts, per model and namespace (environment), the series the Prometheus alert
    expression returns (so a
    comparison such as `== 0` or `absent()` counts as firing); C fires when A > 0. "No data"
    means the condition is false, as in Prometheus.
    """
    rules = []
    for group in prometheus_rule["spec"]["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            rules.append(
                {
                    "uid": f"{MODEL_NAME}-{rule['alert']}".lower()[:40],
                    "title": rule["alert"],
                    "condition": "C",
                    "data": [
                        {
                            "refId": "A",
                            "relativeTimeRange": {"from": 900, "to": 0},
                            "datasourceUid": DATASOURCE_UID,
                            "model": {
                                "refId": "A",
                                "instant": True,
                                "expr": f"count by (model, namespace) ({rule['expr'].strip()})",
                            },
                        },
                        {
                            "refId": "C",
                            "relativeTimeRange": {"from": 0, "to": 0},
                            "datasourceUid": EXPRESSION_UID,
                            "model": {
                                "refId": "C",
                                "type": "threshold",
                                "expression": "A",
                                "conditions": [{"evaluator": {"type": "gt", "params": [0]}}],
                            },
                        },
                    ],
                    "for": rule.get("for", "0s"),
                    "noDataState": "OK",
                    "execErrState": "Error",
                    "labels": {**rule.get("labels", {}), "model": MODEL_NAME},
                    "annotations": rule.get("annotations", {}),
                }
            )
    return {
        "apiVersion": 1,
        "groups": [
            {"orgId": 1, "name": MODEL_NAME, "folder": FOLDER, "interval": "1m", "rules": rules}
        ],
    }


def _panel(title: str, kind: str, exprs: dict[str, str], unit: str = "short") -> dict[str, Any]:
    return {
        "title": title,
        "type": kind,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "expr": expr,
                "legendFormat": legend,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
            }
            for i, (legend, expr) in enumerate(exprs.items())
        ],
    }


def panels() -> list[dict[str, Any]]:
    """Serving panels per predictor (a rollout runs a candidate beside the default), drift
    panels per watched version (each predictor's drift service watches its own)."""
    s = PANEL_SELECTOR
    rows = [
        _panel(
            "Requests per second",
            "timeseries",
            {"{{predictor}}": f"sum by (predictor) (rate(model_requests_total{{{s}}}[5m]))"},
            "reqps",
        ),
        _panel(
            "Prediction latency",
            "timeseries",
            {
                f"p{q} {{{{predictor}}}}": f"histogram_quantile(0.{q}, sum by (predictor, le) "
                f"(rate(model_predict_seconds_bucket{{{s}}}[5m])))"
                for q in (50, 99)
            },
            "s",
        ),
        _panel(
            "Failed requests by reason",
            "timeseries",
            {
                "{{predictor}} {{status}} {{reason}}": f"sum by (predictor, status, reason) "
                f"(rate(model_request_errors_total{{{s}}}[5m]))"
            },
            "reqps",
        ),
        _predictions_panel(s),
        _panel(
            "Model version in service",
            "stat",
            {"{{predictor}}": f"max by (predictor) (model_served_version{{{s}}})"},
        ),
        _panel(
            "Request logs dropped",
            "timeseries",
            {"dropped": f"sum(rate(request_log_dropped_total{{{s}}}[5m]))"},
        ),
    ]
    if DRIFT_DETECTION:
        rows += [
            _panel(
                "Drift p-value per feature",
                "timeseries",
                {
                    "v{{version}} {{feature}}": f"max by (version, feature) (drift_p_value{{{s}}})",
                    "threshold": f"max(drift_threshold{{{s}}})",
                },
            ),
            _panel(
                "Drift detected",
                "stat",
                {"v{{version}}": f"max by (version) (drift_detected{{{s}}})"},
            ),
            _panel(
                "Rows tested for drift per second",
                "timeseries",
                {"v{{version}}": f"sum by (version) (rate(drift_rows_processed_total{{{s}}}[5m]))"},
            ),
            _panel(
                "Drift consumer lag",
                "timeseries",
                {"v{{version}}": f"max by (version) (drift_consumer_lag_messages{{{s}}})"},
            ),
            _panel(
                "Version watched for drift",
                "stat",
                {"{{version}}": f"max by (version) (drift_model_info{{{s}}})"},
            ),
            # Quality against ground truth (quality/, in the drift service).
            _panel(
                "Quality against ground truth (last window)",
                "timeseries",
                {
                    "v{{version}} {{predictor}} {{metric}}": "max by (version, predictor, metric) "
                    f"(model_quality{{{s}}})",
                    "threshold v{{version}} {{metric}}": "max by (version, metric) "
                    f"(model_quality_threshold{{{s}}})",
                },
            ),
            _panel(
                "Predictions settled per second, labelled or not",
                "timeseries",
                {
                    "{{predictor}} {{outcome}}": "sum by (predictor, outcome) "
                    f"(rate(model_quality_predictions_total{{{s}}}[5m]))"
                },
            ),
            _panel(
                "Labels per second by outcome",
                "timeseries",
                {"{{outcome}}": f"sum by (outcome) (rate(model_quality_labels_total{{{s}}}[5m]))"},
            ),
            _panel(
                "Predictions waiting for labels",
                "timeseries",
                {"v{{version}}": f"max by (version) (model_quality_pending_predictions{{{s}}})"},
            ),
        ]
    for number, panel in enumerate(rows, start=1):
        panel["id"] = number
        panel["gridPos"] = {
            "h": 8,
            "w": 12,
            "x": 12 * ((number - 1) % 2),
            "y": 8 * ((number - 1) // 2),
        }
    return rows


def dashboard() -> dict[str, Any]:
    return {
        "uid": f"{MODEL_NAME}-model"[:40],
        "title": f"{MODEL_NAME}: serving and drift",
        "tags": ["mlops", MODEL_NAME],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": DATASOURCE_UID},
                },
                {
                    "name": "namespace",
                    "label": "Environment",
                    "type": "query",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": f"label_values(model_served_version{{{SELECTOR}}}, namespace)",
                    "refresh": 2,
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                },
            ]
        },
        "panels": panels(),
    }


def render(root: Path) -> dict[str, str]:
    """The files of k8s/base/monitoring/ (name -> text), from the rule file under `root`."""
    prometheus_rule = yaml.safe_load((root / RULE_FILE).read_text())
    documents = {ALERTS_FILE: alert_rules(prometheus_rule), DASHBOARD_FILE: dashboard()}
    return {
        name: json.dumps(doc, indent=2, sort_keys=True) + "\n" for name, doc in documents.items()
    }


def write(root: Path) -> list[Path]:
    """Write k8s/base/monitoring/; return the files that changed."""
    changed = []
    for name, text in render(root).items():
        path = root / OUTPUT_DIR / name
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed
