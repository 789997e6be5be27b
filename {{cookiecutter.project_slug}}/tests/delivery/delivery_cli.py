"""The delivery commands through the command line, as CI runs them, against a platform remote
and a review API (no output may show the token); the platform's automatic merge of a staging
delivery and a reviewer's merge of a promotion."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.delivery import staging
from {{ cookiecutter.package_name }}.delivery.promotion import BRANCH

from .git_repos import git
from .review_apis import fake_review_api
from .review_apis.base import FakeReviewApi

TOKEN = "test-token-0123456789"


def run_cli(capsys, *argv: str) -> tuple[int, dict | str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err
    try:  # the command's answer is its last line of output
        return code, json.loads(captured.out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return code, captured.err


def promote_argv(
    platform: str,
    repository: str = "acme/platform",
    api_url: str | None = None,
    metrics: bool = False,
) -> list[str]:
    """`open-promotion` against a platform remote and a review API."""
    argv = ["open-promotion", "--platform-repo", platform, "--repository", repository]
    if api_url is not None:
        argv += ["--api-url", api_url]
    return argv if metrics else [*argv, "--no-metrics"]


def push_overlay(
    capsys,
    platform: str,
    version: str = "3",
    tag: str = "1111111",
    environment: str = "staging",
    api: FakeReviewApi | None = None,
    merge: bool = True,
    options: tuple[str, ...] = (),
) -> tuple[int, dict | str]:
    """`push-overlay`: the staging delivery request, then (`merge`) what the platform's CI does
    with it: `check-change` lets it through and it is squash-merged into main. Without `api`,
    through a review API stand-in of its own (with the right token)."""
    if api is None:
        with fake_review_api("acme/platform", TOKEN) as own, pytest.MonkeyPatch.context() as env:
            env.setenv("PLATFORM_REPO_TOKEN", TOKEN)
            return push_overlay(capsys, platform, version, tag, environment, own, merge, options)
    code, answer = run_cli(
        capsys, "push-overlay", "--platform-repo", platform, "--repository", api.repository,
        "--api-url", api.url, "--environment", environment, "--image-tag", tag,
        "--model-version", version, *options,
    )  # fmt: skip
    if code == 0 and merge and answer["action"] in ("created", "updated", "unchanged"):
        platform_merges(platform, api, staging.BRANCH)
    return code, answer


def platform_merges(platform: str, api: FakeReviewApi, branch: str) -> None:
    """The open request from `branch` squash-merged into main, as the forge does it."""
    with tempfile.TemporaryDirectory() as tmp:
        checkout = Path(tmp) / "platform"
        git("clone", "--quiet", platform, str(checkout), cwd=Path(tmp))
        git("merge", "--quiet", "--squash", f"origin/{branch}", cwd=checkout)
        git("commit", "--quiet", "-m", f"{api.review(api.open_index(branch)).title}",
            cwd=checkout)  # fmt: skip
        git("push", "--quiet", "origin", "HEAD:main", cwd=checkout)
    api.merge(api.open_index(branch))


def merge_promotion(platform: str, tmp_path: Path) -> None:
    """What a reviewer's merge does: the promotion branch lands on main."""
    checkout = tmp_path / "reviewer"
    shutil.rmtree(checkout, ignore_errors=True)
    git("clone", "--quiet", platform, str(checkout), cwd=tmp_path)
    git("merge", "--quiet", "--ff-only", f"origin/{BRANCH}", cwd=checkout)
    git("push", "--quiet", "origin", "HEAD:main", cwd=checkout)
