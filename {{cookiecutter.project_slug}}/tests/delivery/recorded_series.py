"""Recorded series of a rollout's two predictors, served by a real Prometheus, for
`compare-predictors`.

The series are written as OpenMetrics, turned into TSDB blocks by `promtool tsdb
create-blocks-from openmetrics` and served by a real `prometheus`; each scenario lies in its
own stretch of time, and the command evaluates at the end of it (`--at`). The
`recorded_prometheus` fixture (conftest.py) serves them once per session.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from {{ cookiecutter.package_name }}.delivery.release import namespace
from {{ cookiecutter.package_name }}.devstack import services
from {{ cookiecutter.package_name }}.devstack.processes import Started, free_port
from {{ cookiecutter.package_name }}.settings import MODEL_NAME

from ..probes import tool

STEP = 15  # seconds between recorded samples, as a scrape interval
LENGTH = 40 * 60  # each scenario records 40 minutes; the command looks at the last 30
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1)
{%- if cookiecutter.task == "classification" %}
# The predicted classes, and the share of predictions each gets.
PREDICTED = ("setosa", "versicolor", "virginica")
EVEN = (1 / 3, 1 / 3, 1 / 3)
SHIFTED = (0.7, 0.2, 0.1)


def prediction_samples(labels: str, served: float, shares: tuple[float, ...]) -> list[tuple]:
    return [(f'{labels},predicted_class="{name}"', served * share)
            for name, share in zip(PREDICTED, shares, strict=True)]  # fmt: skip
{%- else %}
# The bounds of the predicted-value buckets, and the share of predictions in each bucket
# (the last: above the last bound); recorded cumulatively, as the servers count them.
PREDICTED = (100.0, 150.0, 200.0)
EVEN = (0.25, 0.25, 0.25, 0.25)
SHIFTED = (0.05, 0.15, 0.3, 0.5)


def prediction_samples(labels: str, served: float, shares: tuple[float, ...]) -> list[tuple]:
    cumulative = [sum(shares[: i + 1]) for i in range(len(PREDICTED))] + [1.0]
    bounds = [repr(bound) for bound in PREDICTED] + ["+Inf"]
    return [(f'{labels},le="{bound}"', served * share)
            for bound, share in zip(bounds, cumulative, strict=True)]  # fmt: skip
{%- endif %}


# The quality of the last window against ground truth (quality/): as good as the version's
# test figure, and clearly worse.
{%- if cookiecutter.task == "classification" %}
QUALITY_METRIC, GOOD, WORSE = "accuracy", 0.95, 0.7
{%- else %}
QUALITY_METRIC, GOOD, WORSE = "rmse", 50.0, 80.0
{%- endif %}


# Per scenario and predictor: requests/s, error ratio, latency of every request, the shares of
# predictions (prediction_samples), and the quality of labelled predictions (labelled rows/s
# and the last window's QUALITY_METRIC), if labels came back.
def traffic(rate=5.0, errors=0.0, latency=0.004, predicted=EVEN, labelled=0.0, quality=GOOD):
    return {"rate": rate, "errors": errors, "latency": latency, "predicted": predicted,
            "labelled": labelled, "quality": quality}  # fmt: skip


SCENARIOS = {
    "finish": (traffic(labelled=1.0), traffic(rate=1.0, labelled=0.5)),
    "quality": (traffic(labelled=1.0), traffic(rate=1.0, labelled=0.5, quality=WORSE)),
    "errors": (traffic(errors=0.01), traffic(rate=1.0, errors=0.10)),
    "latency": (traffic(), traffic(rate=1.0, latency=0.04)),
    "predictions": (traffic(), traffic(rate=1.0, predicted=SHIFTED)),
    "wait": (traffic(), traffic(rate=0.02)),
}


def sample(name: str, labels: str, value: float, at: float) -> str:
    """One OpenMetrics sample line (braces added here: this file is rendered by a template)."""
    return name + "{" + labels + "} " + f"{value} {at}"


def openmetrics(start: float) -> tuple[str, dict[str, float]]:
    """Every scenario's series, one after the other with an hour between them; their ends.

    Production's predictors carry its namespace, as Prometheus scrapes them in the cluster;
    staging serves too, and badly (half its requests fail), which must change no verdict.
    """
    ends, families = {}, {"requests": [], "errors": [], "predictions": [], "latency": [],
                          "labelled": [], "quality": []}  # fmt: skip
    production, staging = namespace("production"), namespace("staging")
    for index, (name, predictors) in enumerate(SCENARIOS.items()):
        first = start + index * (LENGTH + 3600)
        ends[name] = first + LENGTH
        served_by = [
            ("default", production, predictors[0]),
            ("candidate", production, predictors[1]),
            ("candidate", staging, traffic(rate=20.0, errors=0.5)),
        ]
        for predictor, where, figures in served_by:
            labels = (f'model="{MODEL_NAME}",namespace="{where}",predictor="{predictor}",'
                      f'scenario="{name}"')  # fmt: skip
            failed_labels = f'{labels},status="500",reason="PREDICTION_FAILED"'
            for step in range(LENGTH // STEP + 1):
                at, served = first + step * STEP, figures["rate"] * step * STEP
                families["requests"].append(sample("model_requests_total", labels, served, at))
                failed = served * figures["errors"]
                families["errors"].append(
                    sample("model_request_errors_total", failed_labels, failed, at)
                )
                for series, value in prediction_samples(labels, served, figures["predicted"]):
                    families["predictions"].append(
                        sample("model_predictions_total", series, value, at)
                    )
                for bound in (*BUCKETS, "+Inf"):
                    count = served if bound == "+Inf" or figures["latency"] <= bound else 0
                    families["latency"].append(
                        sample("model_predict_seconds_bucket", f'{labels},le="{bound}"', count, at)
                    )
                families["latency"] += [
                    sample("model_predict_seconds_count", labels, served, at),
                    sample("model_predict_seconds_sum", labels, served * figures["latency"], at),
                ]
                if figures["labelled"]:  # the drift service's quality monitor
                    labelled = figures["labelled"] * step * STEP
                    rows = f'{labels},outcome="labelled"'
                    metric = f'{labels},metric="{QUALITY_METRIC}"'
                    families["labelled"].append(
                        sample("model_quality_predictions_total", rows, labelled, at)
                    )
                    families["quality"].append(
                        sample("model_quality", metric, figures["quality"], at)
                    )
    text = [
        "# TYPE model_requests counter", *families["requests"],
        "# TYPE model_request_errors counter", *families["errors"],
        "# TYPE model_predictions counter", *families["predictions"],
        "# TYPE model_predict_seconds histogram", *families["latency"],
        "# TYPE model_quality_predictions counter", *families["labelled"],
        "# TYPE model_quality gauge", *families["quality"],
        "# EOF",
    ]  # fmt: skip
    return "\n".join(text) + "\n", ends


def serve(directory: Path) -> tuple[Started, dict[str, float]]:
    """Every scenario, recorded into `directory` and served; the server and the scenarios' ends
    (the times to evaluate at)."""
    start = int(time.time()) - 12 * 3600 - len(SCENARIOS) * (LENGTH + 3600)
    text, ends = openmetrics(start)
    (directory / "series.om").write_text(text)
    data = directory / "data"
    promtool = subprocess.run(
        [tool("promtool"), "tsdb", "create-blocks-from", "openmetrics",
         str(directory / "series.om"), str(data)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert promtool.returncode == 0, promtool.stdout + promtool.stderr
    (directory / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    server = services.prometheus(
        free_port(), directory / "prometheus.yml", data, "--storage.tsdb.retention.time=30d"
    ).run(directory / "prometheus.log")
    return server, ends


if __name__ == "__main__":  # print the recorded series, to look at them
    sys.stdout.write(openmetrics(0)[0][:2000])
