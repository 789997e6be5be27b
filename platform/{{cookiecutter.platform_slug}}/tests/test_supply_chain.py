"""This repo's CI runs only pinned code: every action by the commit of its release (GitHub), every
job image by digest (GitLab); the workflow passes zizmor; the pre-commit hooks run the same
checks. A reference by tag fails the check."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitops.settings import CI_PROVIDER

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOWS = REPO / ".github" / "workflows"
GITLAB_CI = REPO / ".gitlab-ci.yml"
# `uses: owner/repo[/path]@<commit>  # v1.2.3`
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+(\.\d+)*$")
BY_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
github_only = pytest.mark.skipif(CI_PROVIDER != "github", reason="this repo runs GitLab CI")
gitlab_only = pytest.mark.skipif(CI_PROVIDER != "gitlab", reason="this repo runs GitHub Actions")


def zizmor(directory: Path) -> list[str]:
    result = subprocess.run([str(BIN / "zizmor"), "--offline", "--no-progress", "--format",
                             "json", str(directory)], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    return [f"{f['ident']}: {f['desc']}" for f in json.loads(result.stdout or "[]")]


def action_references(text: str) -> list[str]:
    return [m[1].strip() for m in re.finditer(r"^\s*(?:- )?uses: (.+)$", text, flags=re.M)]


@github_only
def test_every_action_is_pinned_by_the_commit_of_its_release():
    for workflow in sorted(WORKFLOWS.glob("*.y*ml")):
        references = action_references(workflow.read_text())
        assert references, workflow.name
        for reference in references:
            assert PINNED_ACTION.match(reference), f"{workflow.name}: {reference}"


@github_only
def test_the_workflows_pass_zizmor_and_a_tag_reference_fails_it(tmp_path):
    assert zizmor(WORKFLOWS) == []
    copy = tmp_path / ".github" / "workflows"
    copy.mkdir(parents=True)
    for workflow in WORKFLOWS.glob("*.y*ml"):
        text = re.sub(r"(uses: [\w.-]+/[\w./-]+)@[0-9a-f]{40}  # (v\d+)", r"\1@\2",
                      workflow.read_text(), count=1)  # fmt: skip
        (copy / workflow.name).write_text(text)
    findings = zizmor(copy)
    assert findings and all(f.startswith("unpinned-uses") for f in findings), findings


@gitlab_only
def test_every_job_image_is_pinned_by_digest():
    pipeline = yaml.safe_load(GITLAB_CI.read_text())
    images = []
    for name, job in pipeline.items():
        if isinstance(job, dict) and "image" in job:
            image = job["image"]
            images.append((name, image["name"] if isinstance(image, dict) else image))
    assert images
    for name, image in images:
        assert BY_DIGEST.search(image), f"{name}: {image} is not pinned by digest"


def test_the_pre_commit_hooks_run_the_checks_of_make_lint():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    expected = {"ruff-check", "ruff-format", "validate"}
    expected |= {"zizmor", "actionlint"} if CI_PROVIDER == "github" else {"gitlab-ci-schema"}
    assert expected <= set(hooks)
    lock = (REPO / "requirements.lock").read_text()
    for hook in hooks.values():  # the same versions as the locked tools
        for pin in hook.get("additional_dependencies", []):
            assert re.search(rf"^{re.escape(pin)} ", lock, flags=re.M), pin


def test_the_renovate_config_is_valid_and_leaves_the_model_environments_alone():
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema",
                             "vendor.renovate", str(REPO / "renovate.json")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads((REPO / "renovate.json").read_text())
    assert "models/**" in config["ignorePaths"]  # written by the model repos' CI only
