"""Rollout strategies in the production overlay: rendered by kustomize, validated strictly, with
exactly the traffic asked for; bad requests change nothing."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.delivery import DeliveryError, release, rollout
from {{ cookiecutter.package_name }}.delivery.promotion import BRANCH
from {{ cookiecutter.package_name }}.delivery.rollout import Strategy
from {{ cookiecutter.package_name }}.settings import IMAGES, MODEL_NAME

from ...delivery.delivery_cli import TOKEN, merge_promotion, promote_argv, push_overlay, run_cli
from ...delivery.git_repos import remote_file
from ...delivery.manifests import kustomize, validate
from ...delivery.review_apis import fake_review_api
from ..rollouts import CANDIDATE, STABLE


def production(root: Path) -> list[dict]:
    return kustomize(release.overlay_dir(root, "production"))


def predictors(root: Path) -> dict[str, dict]:
    documents = production(root)
    for document in documents:
        validate(document)  # strictly: built-in kinds and our SeldonDeployment schema
    seldon = next(d for d in documents if d["kind"] == "SeldonDeployment")
    return {p["name"]: p for p in seldon["spec"]["predictors"]}


def container(predictor: dict) -> dict:
    return predictor["componentSpecs"][0]["spec"]["containers"][0]


def env(predictor: dict) -> dict:
    return {e["name"]: e.get("value") for e in container(predictor).get("env", [])}


@pytest.mark.parametrize(
    ("strategy", "weights"),
    [(Strategy("canary", 10), (90, 10)), (Strategy("ab", 50), (50, 50)),
     (Strategy("canary", 1), (99, 1)), (Strategy("shadow"), (100, None))],
    ids=["canary-10", "ab-50", "canary-1", "shadow"],
)  # fmt: skip
def test_each_strategy_renders_two_pinned_predictors_with_the_traffic_asked_for(
    platform_dir, strategy, weights
):
    rollout.start(platform_dir, strategy)
    found = predictors(platform_dir)
    assert sorted(found) == ["candidate", "default"]
    stable, candidate = found["default"], found["candidate"]
    assert (stable.get("traffic"), candidate.get("traffic")) == weights
    if strategy.name == "shadow":
        assert candidate["shadow"] is True and "traffic" not in candidate
    else:
        assert stable["traffic"] + candidate["traffic"] == 100
        assert "shadow" not in candidate
    assert container(stable)["image"] == f"{IMAGES['serve']}:aaaaaaa"
    assert container(candidate)["image"] == f"{IMAGES['serve']}@sha256:" + "c" * 64
    assert env(stable)["MODEL_VERSION"] == "4" and env(candidate)["MODEL_VERSION"] == "5"
    # Each predictor's own artifact digest, over the ConfigMap's (production's).
    assert env(stable)["MODEL_DIGEST"] == STABLE.model_digest
    assert env(candidate)["MODEL_DIGEST"] == CANDIDATE.model_digest
    assert (env(stable)["PREDICTOR_ID"], env(candidate)["PREDICTOR_ID"]) == ("default", "candidate")
    assert stable["labels"]["mlops/predictor-role"] == "stable"
    assert candidate["labels"]["mlops/model-version"] == "5"
    # Production's own version stays the overlay's MODEL_VERSION (what the registry follows).
    config = next(d for d in production(platform_dir) if d["kind"] == "ConfigMap"
                  and d["data"].get("MODEL_VERSION"))  # fmt: skip
    assert config["data"]["MODEL_VERSION"] == "4"
    assert rollout.current(platform_dir) == rollout.Rollout(strategy, STABLE, CANDIDATE)
    # The overlay alone no longer says what production runs: the patch does, per predictor.
    with pytest.raises(DeliveryError, match=r"a rollout runs \(rollout.yaml\)"):
        release.read_release(platform_dir, "production")


def test_finish_leaves_the_candidate_alone_and_abort_restores_production(platform_dir):
    before = production(platform_dir)

    rollout.start(platform_dir, Strategy("canary", 20))
    rollout.abort(platform_dir)
    assert production(platform_dir) == before
    assert not rollout.patch_path(platform_dir).exists()

    rollout.start(platform_dir, Strategy("shadow"))
    rollout.finish(platform_dir)
    found = predictors(platform_dir)
    assert list(found) == ["default"] and "traffic" not in found["default"]
    assert container(found["default"])["image"].endswith("@sha256:" + "c" * 64)
    assert release.read_release(platform_dir, "production") == CANDIDATE
    assert rollout.current(platform_dir) is None


def snapshot(root: Path, into: Path) -> Path:
    shutil.rmtree(into, ignore_errors=True)
    shutil.copytree(root, into)
    return into


def same_tree(a: Path, b: Path) -> bool:
    comparison = filecmp.dircmp(a, b)
    if comparison.left_only or comparison.right_only or comparison.diff_files:
        return False
    return all(same_tree(a / d, b / d) for d in comparison.common_dirs)


@pytest.mark.parametrize(
    ("action", "message"),
    [(rollout.finish, "no rollout runs in production: nothing to finish"),
     (rollout.abort, "no rollout runs in production: nothing to abort")],
    ids=["finish", "abort"],
)  # fmt: skip
def test_ending_a_rollout_that_does_not_exist_changes_nothing(
    platform_dir, tmp_path, action, message
):
    saved = snapshot(platform_dir, tmp_path / "saved")
    with pytest.raises(DeliveryError, match=message):
        action(platform_dir)
    assert same_tree(platform_dir, saved)


def test_a_second_rollout_on_top_of_a_running_one_is_refused(platform_dir, tmp_path):
    rollout.start(platform_dir, Strategy("canary", 10))
    saved = snapshot(platform_dir, tmp_path / "saved")
    for strategy in (Strategy("ab", 50), Strategy("replace")):
        with pytest.raises(DeliveryError, match="a canary rollout of version 5 runs"):
            rollout.start(platform_dir, strategy)
    assert same_tree(platform_dir, saved)


@pytest.mark.parametrize(
    ("name", "traffic", "message"),
    [("canary", 0, "from 1 to 99"), ("canary", 100, "from 1 to 99"),
     ("ab", None, "needs --traffic"), ("canary", -5, "from 1 to 99"),
     ("shadow", 10, "--traffic is for canary and ab"),
     ("replace", 50, "--traffic is for canary and ab"), ("blue-green", None, "must be one of")],
)  # fmt: skip
def test_bad_strategies_are_named(name, traffic, message):
    with pytest.raises(DeliveryError, match=message):
        Strategy(name, traffic)


def test_a_bad_rollout_request_commits_and_pushes_nothing(platform, capsys, monkeypatch):
    """Through the command line, as CI runs it: refused before a clone or before a push."""
    monkeypatch.setenv("PLATFORM_REPO_TOKEN", TOKEN)
    assert push_overlay(capsys, platform, version="4", tag="aaaaaaa")[0] == 0
    with fake_review_api("acme/mlops-platform", TOKEN) as api:
        promote = promote_argv(platform, "acme/mlops-platform", api.url)
        code, answer = run_cli(capsys, *promote, "--strategy", "canary", "--traffic", "150")
        assert code == 1 and "from 1 to 99" in answer
        code, answer = run_cli(capsys, *promote, "--finish")
        assert code == 1 and "no rollout runs in production" in answer
        code, answer = run_cli(capsys, *promote, "--compare-with", "http://127.0.0.1:9")
        assert code == 1 and "--compare-with goes with --finish or --abort" in answer
        assert api.requests == []
    refs = Path(platform.removeprefix("file://")) / "refs" / "heads"
    assert not (refs / "promote").exists(), "no promotion branch pushed"


def test_a_canary_then_its_finish_are_pull_requests(platform, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PLATFORM_REPO_TOKEN", TOKEN)
    with fake_review_api("acme/mlops-platform", TOKEN) as api:
        promote = promote_argv(platform, "acme/mlops-platform", api.url)
        assert push_overlay(capsys, platform, version="4", tag="aaaaaaa")[0] == 0
        assert run_cli(capsys, *promote)[1]["action"] == "created"  # the first: a replace
        merge_promotion(platform, tmp_path)
        api.merge()

        assert push_overlay(capsys, platform, version="5", tag="bbbbbbb")[0] == 0
        code, answer = run_cli(capsys, *promote, "--strategy", "canary", "--traffic", "25")
        assert code == 0 and answer["action"] == "created", answer
        assert api.review().title.endswith("to production as a canary")
        assert "canary, 25 % of the traffic to the candidate" in api.review().body
        patch = remote_file(
            platform, BRANCH, f"models/{MODEL_NAME}/production/rollout.yaml", tmp_path
        )
        assert "traffic: 25" in patch and "traffic: 75" in patch
        merge_promotion(platform, tmp_path)
        api.merge()

        code, answer = run_cli(capsys, *promote, "--strategy", "shadow")
        assert code == 1 and "a canary rollout of version 5 runs" in answer
        code, answer = run_cli(capsys, *promote, "--finish")
        assert code == 0 and answer["action"] == "created", answer
        assert api.review().title == f"Finish the canary rollout of {MODEL_NAME} version 5"
        kustomization = remote_file(
            platform, BRANCH, f"models/{MODEL_NAME}/production/kustomization.yaml", tmp_path
        )
        assert "rollout.yaml" not in kustomization and "MODEL_VERSION=5" in kustomization
