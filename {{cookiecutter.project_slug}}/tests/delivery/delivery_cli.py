"""The delivery commands through the command line, as CI runs them, against a platform remote
and a review API (no output may show the token), and a reviewer's merge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.delivery.promotion import BRANCH

from .git_repos import git

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
) -> tuple[int, dict | str]:
    """`push-overlay`: the environment's overlay, committed and pushed to main."""
    return run_cli(
        capsys,
        "push-overlay",
        "--platform-repo",
        platform,
        "--environment",
        environment,
        "--image-tag",
        tag,
        "--model-version",
        version,
    )


def merge_promotion(platform: str, tmp_path: Path) -> None:
    """What a reviewer's merge does: the promotion branch lands on main."""
    checkout = tmp_path / "reviewer"
    shutil.rmtree(checkout, ignore_errors=True)
    git("clone", "--quiet", platform, str(checkout), cwd=tmp_path)
    git("merge", "--quiet", "--ff-only", f"origin/{BRANCH}", cwd=checkout)
    git("push", "--quiet", "origin", "HEAD:main", cwd=checkout)
