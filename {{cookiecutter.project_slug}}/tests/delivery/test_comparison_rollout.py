"""A rollout's finish or abort with `--compare-with`, on any runtime that rolls out: the
comparison of its two predictors, read from a real Prometheus holding recorded series (the
names and labels every runtime exports), is the pull request's body."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.runtimes import protocol
from {{ cookiecutter.package_name }}.settings import MODEL_NAME

from .delivery_cli import TOKEN, merge_promotion, promote_argv, push_overlay, run_cli
from .review_apis import fake_review_api

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("ab" not in protocol.ROLLOUT_STRATEGIES, reason="it only replaces"),
]


def test_finishing_a_rollout_puts_the_comparison_in_the_pull_request(
    recorded_prometheus, platform, capsys, monkeypatch, tmp_path
):
    url, ends = recorded_prometheus
    monkeypatch.setenv("PLATFORM_REPO_TOKEN", TOKEN)
    with fake_review_api("acme/mlops-platform", TOKEN) as api:
        promote = promote_argv(platform, "acme/mlops-platform", api.url)
        ab = ["--strategy", "ab", "--traffic", "20"]
        for version, tag, strategy in (("4", "aaaaaaa", []), ("5", "bbbbbbb", ab)):
            assert push_overlay(capsys, platform, version=version, tag=tag)[0] == 0
            assert run_cli(capsys, *promote, *strategy)[1]["action"] == "created"
            merge_promotion(platform, tmp_path)
            api.merge()
        code, answer = run_cli(capsys, *promote, "--abort", "--compare-with", url,
                               "--compare-at", str(ends["latency"]))  # fmt: skip
        assert code == 0 and answer["action"] == "created", answer
    body = api.review().body
    assert api.review().title == f"Abort the ab rollout of {MODEL_NAME} version 5"
    assert "| | default | candidate |" in body and "**Verdict: abort**: p99 latency" in body
