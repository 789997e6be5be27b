"""The CI files and the pre-commit config: valid for their service, and thin.

Every step of the CI files is a make target that exists, and every make target that calls
the package calls a command that exists, so a renamed command breaks a test here instead
of a pipeline.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CI_FILES = {
    ".github/workflows/ci.yml": "vendor.github-workflows",
    ".gitlab-ci.yml": "vendor.gitlab-ci",
}
PRESENT = {path: schema for path, schema in CI_FILES.items() if (REPO / path).exists()}


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)


def test_this_repo_has_exactly_one_ci_file():
    assert len(PRESENT) == 1


@pytest.mark.parametrize(("path", "schema"), sorted(PRESENT.items()))
def test_the_ci_file_matches_its_services_schema(path, schema):
    result = run(str(BIN / "check-jsonschema"), "--builtin-schema", schema, path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_github_workflows_pass_actionlint():
    if ".github/workflows/ci.yml" not in PRESENT:
        pytest.skip("this repo uses GitLab CI")
    result = run(str(BIN / "actionlint"), "-no-color", ".github/workflows/ci.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def ci_commands() -> list[str]:
    """Every shell line the CI file runs."""
    path = next(iter(PRESENT))
    document = yaml.safe_load((REPO / path).read_text())
    lines: list[str] = []
    if path.startswith(".github"):
        for job in document["jobs"].values():
            lines += [step["run"] for step in job["steps"] if "run" in step]
    else:
        for job in document.values():
            if isinstance(job, dict):
                for key in ("before_script", "script"):
                    lines += job.get(key, [])
    return [part for line in lines for part in line.splitlines()]


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.MULTILINE))


def test_every_make_target_the_ci_calls_exists():
    # `make` as a command (not the word in `apt-get install make git ...`)
    command = re.compile(r"(?:^|&&|;|\|\|)\s*make(?: -s)? ([a-z][\w-]*)")
    called = {m for line in ci_commands() for m in command.findall(line)}
    assert called, "the CI file calls make targets"
    assert called <= make_targets(), called - make_targets()


def test_every_command_the_makefile_calls_exists():
    text = (REPO / "Makefile").read_text()
    called = set(re.findall(r"\$\(CLI\) ([a-z][\w-]*)", text))
    called |= set(re.findall(r"-m {{ cookiecutter.package_name }} ([a-z][\w-]*)", text))
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    assert called <= commands, called - commands


def test_the_deliver_steps_run_in_order():
    """Train before register, register before the overlay, the overlay before the PR."""
    order = [line for line in ci_commands() if line.startswith("make ")]
    positions = {
        name: next(i for i, line in enumerate(order) if f"make {name}" in line)
        for name in ("train", "register", "push-overlay", "open-promotion")
    }
    assert positions["train"] < positions["register"] < positions["push-overlay"]
    assert positions["push-overlay"] < positions["open-promotion"]


def test_no_secret_values_in_the_ci_file():
    text = (REPO / next(iter(PRESENT))).read_text()
    for name in ("PLATFORM_REPO_TOKEN", "MLFLOW_TRACKING_PASSWORD"):
        for line in text.splitlines():
            if re.match(rf"\s*{name}:", line):
                assert "secrets." in line, line  # only ever from the secrets context


def test_the_pre_commit_config_is_valid_and_its_tools_pass():
    result = run(str(BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    entries = {hook["id"]: hook["entry"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "hadolint"} <= set(entries)
    for tool, args in (
        ("ruff", ["check", "."]),
        ("ruff", ["format", "--check", "."]),
        ("hadolint", ["Dockerfile"]),
    ):
        result = run(str(BIN / tool), *args)
        assert result.returncode == 0, result.stdout + result.stderr
