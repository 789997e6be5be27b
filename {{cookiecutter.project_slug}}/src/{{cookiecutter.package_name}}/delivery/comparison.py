"""`compare-predictors`: the two predictors of a rollout side by side, from Prometheus, with a
verdict for the pull request that finishes or aborts it.

Over a window (default 30 minutes) it reads, per predictor: requests per second, the error
ratio, the p99 latency and the distribution of its predictions (tasks/: the model's task
says how it is counted and how far two are apart), and, where labels came back for both
(quality/), the quality of its last window against ground truth. The verdict is `finish`
when the candidate served enough requests and is no worse than the default (error ratio at
most ERROR_MARGIN higher, p99 at most LATENCY_FACTOR times, predictions within
DISTRIBUTION_DISTANCE, and, with MIN_LABELLED labelled rows each, quality within
QUALITY_MARGIN), `abort` when it is worse, `wait` when it has not served enough to tell.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from dataclasses import dataclass, field

from ..jsonhttp import HttpError, request_json
from ..settings import MODEL_NAME
from ..tasks import task
from . import DeliveryError
from .release import CANDIDATE, STABLE, namespace

MIN_REQUESTS = 100  # the candidate's requests in the window before any verdict
ERROR_MARGIN = 0.01  # the candidate's error ratio may exceed the default's by one point
LATENCY_FACTOR = 1.2  # and its p99 latency by 20 %
DISTRIBUTION_DISTANCE = 0.1  # between the two distributions of predictions, from 0 to 1
MIN_LABELLED = 100  # labelled rows of each predictor in the window before quality counts
QUALITY_MARGIN = 0.05  # the candidate's quality may be worse than the default's by 5 %
WINDOW = re.compile(r"^[1-9][0-9]*[smhd]$")


@dataclass
class PredictorFigures:
    requests: float = 0.0  # in the window
    error_ratio: float = math.nan
    p99_seconds: float = math.nan
    predictions: dict[str, float] = field(default_factory=dict)  # task.distribution
    labelled: float = 0.0  # rows labelled in the window (quality/)
    quality: dict[str, float] = field(default_factory=dict)  # the last window's, by metric


@dataclass
class Comparison:
    window: str
    default: PredictorFigures
    candidate: PredictorFigures
    verdict: str
    reasons: list[str]


class Prometheus:
    def __init__(self, url: str, at: float | None = None) -> None:
        self.url = url.rstrip("/")
        self.at = at

    def query(self, expression: str) -> list[dict]:
        parameters = {"query": expression}
        if self.at is not None:
            parameters["time"] = str(self.at)
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(parameters)}"
        try:
            answer = request_json("GET", url, timeout=15)
        except HttpError as error:
            if error.status is None:
                raise DeliveryError(f"Prometheus at {self.url}: {error.reason}") from None
            raise DeliveryError(
                f"Prometheus rejected {expression!r}: HTTP {error.status}: {error.detail}"
            ) from None
        return answer["data"]["result"]

    def by_predictor(self, expression: str) -> dict[str, float]:
        results = self.query(expression)
        return {r["metric"].get("predictor", ""): float(r["value"][1]) for r in results}


def figures(prometheus: Prometheus, window: str) -> dict[str, PredictorFigures]:
    # Rollouts run in production: production's series only (staging's traffic never moves
    # these figures), or series with no namespace at all (a Prometheus outside Kubernetes).
    production = namespace("production")
    selector = "{" + f'model="{MODEL_NAME}",namespace=~"{production}|"' + "}"  # braces included
    requests = prometheus.by_predictor(
        f"sum by (predictor) (increase(model_requests_total{selector}[{window}]))"
    )
    errors = prometheus.by_predictor(
        f"sum by (predictor) (increase(model_request_errors_total{selector}[{window}]))"
    )
    p99 = prometheus.by_predictor(
        "histogram_quantile(0.99, sum by (predictor, le) "
        f"(rate(model_predict_seconds_bucket{selector}[{window}])))"
    )
    label = task.PREDICTION_LABEL
    predicted = prometheus.query(
        f"sum by (predictor, {label}) (increase(model_predictions_total{selector}[{window}]))"
    )
    labelled = prometheus.by_predictor(
        "sum by (predictor) (increase(model_quality_predictions_total"
        f'{selector[:-1]},outcome="labelled"}}[{window}]))'
    )
    quality = prometheus.query(f"max by (predictor, metric) (model_quality{selector})")
    found = {}
    for name in (STABLE, CANDIDATE):
        total = requests.get(name, 0.0)
        counts = {
            r["metric"].get(label, "?"): float(r["value"][1])
            for r in predicted
            if r["metric"].get("predictor") == name
        }
        found[name] = PredictorFigures(
            requests=total,
            error_ratio=errors.get(name, 0.0) / total if total else math.nan,
            p99_seconds=p99.get(name, math.nan),
            predictions=task.distribution(counts),
            labelled=labelled.get(name, 0.0),
            quality={
                r["metric"].get("metric", "?"): float(r["value"][1])
                for r in quality
                if r["metric"].get("predictor") == name
            },
        )
    return found


def quality_worse(default: PredictorFigures, candidate: PredictorFigures) -> str | None:
    """Why the candidate's quality is worse than the default's, if both were labelled enough."""
    if min(default.labelled, candidate.labelled) < MIN_LABELLED:
        return None
    for metric, higher_is_better in task.QUALITY_METRICS.items():
        d, c = default.quality.get(metric), candidate.quality.get(metric)
        if d is None or c is None:
            continue
        worse = c < d * (1 - QUALITY_MARGIN) if higher_is_better else c > d * (1 + QUALITY_MARGIN)
        if worse:
            return f"{metric} {c:.3f} against {d:.3f} (labelled predictions)"
    return None


def compare(prometheus: Prometheus, window: str = "30m") -> Comparison:
    if not WINDOW.match(window):
        raise DeliveryError(f"window {window!r}: a Prometheus duration such as 30m, 2h or 1d")
    found = figures(prometheus, window)
    default, candidate = found[STABLE], found[CANDIDATE]
    reasons = []
    if candidate.requests < MIN_REQUESTS or default.requests < MIN_REQUESTS:
        reasons.append(
            f"too few requests to compare ({candidate.requests:.0f} candidate, "
            f"{default.requests:.0f} default; {MIN_REQUESTS} each needed)"
        )
        return Comparison(window, default, candidate, "wait", reasons)
    if candidate.error_ratio > default.error_ratio + ERROR_MARGIN:
        reasons.append(f"error ratio {candidate.error_ratio:.2%} against {default.error_ratio:.2%}")
    if candidate.p99_seconds > default.p99_seconds * LATENCY_FACTOR:
        reasons.append(
            f"p99 latency {candidate.p99_seconds * 1000:.1f} ms against "
            f"{default.p99_seconds * 1000:.1f} ms"
        )
    distance = task.distribution_distance(candidate.predictions, default.predictions)
    if distance > DISTRIBUTION_DISTANCE:
        reasons.append(f"{task.DISTRIBUTION} differ by {distance:.2f} ({task.DISTANCE})")
    if worse := quality_worse(default, candidate):
        reasons.append(worse)
    return Comparison(window, default, candidate, "abort" if reasons else "finish", reasons)


def markdown(comparison: Comparison) -> str:
    d, c = comparison.default, comparison.candidate

    def ms(seconds: float) -> str:
        return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"

    def ratio(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{value:.2%}"

    lines = [
        f"### {MODEL_NAME}: default against candidate, last {comparison.window}",
        "",
        "| | default | candidate |",
        "| --- | ---: | ---: |",
        f"| requests | {d.requests:.0f} | {c.requests:.0f} |",
        f"| error ratio | {ratio(d.error_ratio)} | {ratio(c.error_ratio)} |",
        f"| p99 latency | {ms(d.p99_seconds)} | {ms(c.p99_seconds)} |",
        *(
            f"| {what} | {share_d:.1%} | {share_c:.1%} |"
            for what, share_d, share_c in task.distribution_rows(d.predictions, c.predictions)
        ),
        *(
            [f"| labelled rows | {d.labelled:.0f} | {c.labelled:.0f} |"]
            + [
                f"| {metric} (last window) | {d.quality.get(metric, math.nan):.3f} | "
                f"{c.quality.get(metric, math.nan):.3f} |"
                for metric in task.QUALITY_METRICS
            ]
            if d.labelled or c.labelled
            else []
        ),
        "",
        f"**Verdict: {comparison.verdict}**"
        + (f": {'; '.join(comparison.reasons)}." if comparison.reasons else "."),
    ]
    return "\n".join(lines) + "\n"
