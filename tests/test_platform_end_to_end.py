"""Slow tier: the platform repo installs and passes its own suite, and a model repo's CI
commands deliver into it: the new environment validates and becomes an Application."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from .baking import bake, bake_platform
from .test_generated_repo import make

pytestmark = pytest.mark.slow
# The default model repo as the platform team registers it (the bake's answers).
MODEL_ENTRY = """models:
  - name: iris-classifier
    repository: https://github.com/acme/iris-classifier
    provider: github
    images: ghcr.io/acme/iris-classifier
    delivery_account: iris-classifier-delivery[bot]
  - name: fraud
    repository: https://github.com/acme/fraud
    provider: github
    images: ghcr.io/acme/fraud
    delivery_account: fraud-delivery[bot]"""
DELIVERY_ACCOUNT = "iris-classifier-delivery[bot]"
# `push-overlay` as CI runs it, against the model's tests' stand-in of the review API; prints
# what the stand-in recorded (run inside the model repo's venv).
DELIVER = """
import json, os, sys
from iris_classifier.cli import main
from tests.delivery.review_apis import fake_review_api
with fake_review_api("acme/platform", "e2e-token") as api:
    os.environ["PLATFORM_REPO_TOKEN"] = "e2e-token"
    code = main([
        "push-overlay", *sys.argv[1:], "--repository", "acme/platform", "--api-url", api.url
    ])
    titles = [api.review(i).title for i in range(len(api.reviews))]
print(json.dumps({"code": code, "titles": titles, "problems": api.problems}))
sys.exit(code)
"""


def digests(tag: str) -> list[str]:
    """The image digests CI passes with a build (one per image and build)."""
    return [
        argument
        for part in ("serve", "drift", "train")
        for argument in (
            f"--digest-{part}",
            "sha256:" + hashlib.sha256(f"{part}-{tag}".encode()).hexdigest(),
        )
    ]


def run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=600,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )  # fmt: skip
    assert result.returncode == 0, f"{command}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def test_platform_installs_passes_its_suite_and_takes_a_model_overlay(tmp_path):
    platform = bake_platform(tmp_path / "platform")
    make(platform, "install", timeout=900)
    make(platform, "lint", timeout=300)
    make(platform, "test", timeout=900)

    # The platform team onboards the model repo: its entry in model-repos.yaml and the
    # admission policy generated from it (only its CI's signed images, by digest).
    registry = platform / "model-repos.yaml"
    registry.write_text(registry.read_text().replace("models: []", MODEL_ENTRY))
    run(platform / ".venv" / "bin" / "gitops", "policy", cwd=platform)

    # The platform repo as a team would host it: pushed to a (here: bare, local) remote.
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=Platform", "-c", "user.email=p@example.com",
                  "commit", "-q", "-m", "platform"]):  # fmt: skip
        run("git", *args, cwd=platform)
    remote = tmp_path / "platform.git"
    run("git", "clone", "-q", "--bare", platform, remote)

    model = bake(tmp_path / "model")
    make(model, "install", timeout=900)
    cli = model / ".venv" / "bin" / "iris-classifier"
    # The model's CI proposes staging as a pull request (through its tests' stand-in of the
    # review API); the platform's own check judges it by the author CI opens it as.
    delivered = run(model / ".venv" / "bin" / "python", "-c", DELIVER, "--environment",
                    "staging", "--image-tag", "abc1234", "--model-version", "1",
                    *digests("abc1234"), "--platform-repo", f"file://{remote}",
                    cwd=model).splitlines()[-1]  # fmt: skip
    assert '"problems": []' in delivered and "Deliver iris-classifier version 1" in delivered
    checkout = tmp_path / "checkout"
    run("git", "clone", "-q", remote, checkout)
    gitops = platform / ".venv" / "bin" / "gitops"
    branch = "origin/deliver/iris-classifier-staging"
    verdict = run(gitops, "--root", checkout, "check-change", "--author", DELIVERY_ACCOUNT,
                  "--base", "origin/main", "--head", branch)  # fmt: skip
    assert verdict.strip() == "verdict=merge"
    # Another model's account may not touch this model.
    refused = subprocess.run(
        [gitops, "--root", checkout, "check-change", "--author", "fraud-delivery[bot]",
         "--base", "origin/main", "--head", branch], capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 1 and "models/iris-classifier/staging" in refused.stderr
    run("git", "-C", checkout, "merge", "-q", "--ff-only", branch, cwd=checkout)
    assert "ok:" in run(gitops, "--root", checkout, "validate")
    apps = run(gitops, "--root", checkout, "apps")
    assert "iris-classifier-staging" in apps and "models-staging" in apps
    # Its topic and Kafka users, where Strimzi reads them.
    assert "iris-classifier-staging-kafka" in apps

    # The promotion pull request's content: production runs what staging runs.
    run(cli, "render-overlay", "--platform-dir", checkout, "--environment", "production",
        "--image-tag", "abc1234", "--model-version", "1", *digests("abc1234"))  # fmt: skip
    assert "ok:" in run(gitops, "--root", checkout, "validate")
    diff = run(gitops, "--root", checkout, "diff", "--base", "HEAD")
    assert "- `iris-classifier-production`: added" in diff
    assert "iris-classifier-staging" not in diff

    # A canary of a newer staging version, as `open-promotion --strategy canary` writes it:
    # two predictors and the candidate's drift service, inside the models project's limits.
    run("git", "-C", checkout, "add", "-A", cwd=checkout)
    run("git", "-C", checkout, "-c", "user.name=CI", "-c", "user.email=ci@example.com",
        "commit", "-q", "-m", "production", cwd=checkout)  # fmt: skip
    run(cli, "render-overlay", "--platform-dir", checkout, "--environment", "staging",
        "--image-tag", "def5678", "--model-version", "2", *digests("def5678"))  # fmt: skip
    python = model / ".venv" / "bin" / "python"
    run(python, "-c", "import sys; from pathlib import Path; "
        "from iris_classifier.delivery import rollout; "
        "rollout.start(Path(sys.argv[1]), rollout.Strategy('canary', 10))", checkout)  # fmt: skip
    assert "ok:" in run(gitops, "--root", checkout, "validate")
    diff = run(gitops, "--root", checkout, "diff", "--base", "HEAD")
    assert "- `iris-classifier-production`: changed" in diff
    added = [line for line in diff.splitlines() if line.startswith("+")]
    assert any(line.strip() == "+ traffic: 10" or line.endswith(" traffic: 10") for line in added)
    assert any("iris-classifier-drift-candidate" in line for line in added)


def test_a_kserve_platform_installs_and_passes_its_suite(tmp_path):
    """The KServe-only platform (its Gateway, Standard mode, InferenceService overlays) runs
    its own suite as a team would; the default bake above covers Seldon Core."""
    platform = bake_platform(tmp_path / "platform", serving_runtimes="kserve", ci_provider="gitlab")
    make(platform, "install", timeout=900)
    make(platform, "lint", timeout=300)
    make(platform, "test", timeout=900)
    assert "ok:" in run(platform / ".venv" / "bin" / "gitops", "validate", cwd=platform)
