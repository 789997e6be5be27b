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

from .ci_providers import provider

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROVIDER = provider()


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)


def test_the_ci_file_matches_its_services_schema():
    assert (REPO / PROVIDER.CI_FILE).is_file()
    result = run(str(BIN / "check-jsonschema"), "--builtin-schema", PROVIDER.SCHEMA,
                 PROVIDER.CI_FILE)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_ci_file_passes_its_providers_linter():
    if PROVIDER.LINTER is None:
        pytest.skip("the provider's schema is its only check")
    tool, *args = PROVIDER.LINTER
    result = run(str(BIN / tool), *args)
    assert result.returncode == 0, result.stdout + result.stderr


# A command run with only some of the CI secrets (scripts/with-secrets GROUP... -- COMMAND).
WITH_SECRETS = re.compile(r"^scripts/with-secrets(?: [a-z]+)* -- ")


def ci_commands() -> list[str]:
    """Every shell line the CI file runs (the command itself, without a with-secrets prefix)."""
    document = yaml.safe_load((REPO / PROVIDER.CI_FILE).read_text())
    lines = [part for line in PROVIDER.commands(document) for part in line.splitlines()]
    return [WITH_SECRETS.sub("", line.strip()) for line in lines]


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
    # The promotion waits for the staging delivery just proposed (the platform merges it).
    promotion = order[positions["open-promotion"]]
    wait = re.search(r"WAIT_FOR_STAGING=(\d+)", promotion)
    assert wait and 60 <= int(wait[1]) <= 1800, promotion


def test_no_secret_values_in_the_ci_file():
    text = (REPO / PROVIDER.CI_FILE).read_text()
    for name in ("PLATFORM_REPO_TOKEN", "MLFLOW_TRACKING_PASSWORD"):
        for line in text.splitlines():
            if re.match(rf"\s*{name}:", line):
                assert "secrets." in line, line  # only ever from the secrets context


def test_the_pre_commit_config_is_valid_and_its_tools_pass():
    result = run(str(BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    entries = {hook["id"]: hook["entry"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "hadolint", "scan"} <= set(entries)
    assert entries["scan"] == "make scan"  # the same scan as CI's
    for tool, args in (
        ("ruff", ["check", "."]),
        ("ruff", ["format", "--check", "."]),
        ("hadolint", ["Dockerfile"]),
    ):
        result = run(str(BIN / tool), *args)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_renovate_config_is_valid_for_renovate():
    """renovate.json: what keeps the pins of this repo current (see its description)."""
    result = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.renovate",
                 "renovate.json")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
