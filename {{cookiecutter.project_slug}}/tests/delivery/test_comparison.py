"""`compare-predictors` against a real Prometheus, fed with recorded series of both predictors
(recorded_series.py: each scenario lies in its own stretch of time, and the command evaluates
at the end of it, `--at`)."""

from __future__ import annotations

import time

import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.devstack.processes import free_port

pytestmark = pytest.mark.slow


def compare(capsys, url: str, at: float, *extra: str) -> tuple[int, str]:
    code = main(["compare-predictors", "--prometheus", url, "--at", str(at), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    ("scenario", "verdict", "reason"),
    [("finish", "finish", None),
     ("errors", "abort", "error ratio 10.00% against 1.00%"),
     ("latency", "abort", "p99 latency"),
{%- if cookiecutter.task == "classification" %}
     ("predictions", "abort", "predicted classes differ by 0.37 (total variation)"),
{%- else %}
     ("predictions", "abort", "predicted values differ by 0.30 (largest gap"),
{%- endif %}
{%- if cookiecutter.task == "classification" %}
     ("quality", "abort", "accuracy 0.700 against 0.950 (labelled predictions)"),
{%- else %}
     ("quality", "abort", "rmse 80.000 against 50.000 (labelled predictions)"),
{%- endif %}
     ("wait", "wait", "too few requests to compare")],
)  # fmt: skip
def test_the_verdict_follows_what_both_predictors_served(
    recorded_prometheus, capsys, scenario, verdict, reason
):
    url, ends = recorded_prometheus
    code, output = compare(capsys, url, ends[scenario])
    assert code == 0, output
    assert f"**Verdict: {verdict}**" in output, output
    if reason:
        assert reason in output, output
    if scenario == "finish":
        # 30 minutes of 5 and 1 requests a second, the same predictions
        assert "| requests | 9000 | 1800 |" in output, output
        # labels came back for both (1 and 0.5 rows a second), quality as good
        assert "| labelled rows | 1800 | 900 |" in output, output
{%- if cookiecutter.task == "classification" %}
        assert "| predicted `setosa` | 33.3% | 33.3% |" in output, output
{%- else %}
        assert "| predicted <= 150 | 50.0% | 50.0% |" in output, output
{%- endif %}


def test_a_bad_window_and_an_unreachable_prometheus_are_named(capsys):
    code, output = compare(capsys, "http://127.0.0.1:9", time.time(), "--window", "half an hour")
    assert code == 1 and "window 'half an hour': a Prometheus duration" in output
    code, output = compare(capsys, f"http://127.0.0.1:{free_port()}", time.time())
    assert code == 1 and "Prometheus at http://127.0.0.1:" in output
