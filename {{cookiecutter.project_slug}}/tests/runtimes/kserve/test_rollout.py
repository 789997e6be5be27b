"""Rollout strategies with KServe (a custom predictor container in Standard mode): only
`replace` exists; the others are refused by name, through the command line too, before
anything is cloned or pushed."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.delivery import DeliveryError, overlay, release, rollout
from {{ cookiecutter.package_name }}.delivery.rollout import Strategy

from ...delivery.delivery_cli import TOKEN, promote_argv, push_overlay, run_cli
from ...delivery.review_apis import fake_review_api


@pytest.mark.parametrize(("name", "traffic"), [("canary", 10), ("ab", 50), ("shadow", None)])
def test_traffic_splitting_strategies_are_refused_by_name(name, traffic):
    with pytest.raises(DeliveryError, match=r"container in Standard mode\) splits no traffic"):
        Strategy(name, traffic)
    assert Strategy("replace").name == "replace"


def test_a_replace_needs_no_rollout_module_of_the_runtime(tmp_path):
    overlay.render(tmp_path, "production", release.Release("aaaaaaa", "4"))
    overlay.render(tmp_path, "staging", release.Release("bbbbbbb", "5"))
    assert rollout.current(tmp_path) is None
    assert rollout.start(tmp_path, Strategy()) is None
    assert release.read_release(tmp_path, "production") == release.Release("bbbbbbb", "5")
    with pytest.raises(ModuleNotFoundError):
        rollout.runtime_rollout()  # this runtime has none: only replace


def test_a_refused_rollout_commits_and_pushes_nothing(platform, capsys, monkeypatch):
    monkeypatch.setenv("PLATFORM_REPO_TOKEN", TOKEN)
    assert push_overlay(capsys, platform, version="4", tag="aaaaaaa")[0] == 0
    with fake_review_api("acme/mlops-platform", TOKEN) as api:
        promote = promote_argv(platform, "acme/mlops-platform", api.url)
        code, answer = run_cli(capsys, *promote, "--strategy", "canary", "--traffic", "10")
        assert code == 1 and "--strategy replace" in answer
        assert api.requests == []
        code, answer = run_cli(capsys, *promote)
        assert code == 0 and answer["action"] == "created", answer
    promotions = Path(platform.removeprefix("file://")) / "refs" / "heads" / "promote"
    assert len(list(promotions.iterdir())) == 1, "the replace promotion's branch only"
