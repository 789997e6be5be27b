"""The CI file of this repo: the right steps on the right events, least privilege."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops.settings import CI_PROVIDER

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(CI_PROVIDER != "github", reason="this repo runs GitLab CI")
def test_github_workflow():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "platform.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    validate, sync = workflow["jobs"]["validate"], workflow["jobs"]["sync-registry"]
    runs = [step.get("run", "") for step in validate["steps"]]
    for target in ("make lint", "make test-fast", "make validate", "make render-charts"):
        assert target in runs
    comment = next(s for s in validate["steps"] if "gitops comment" in s.get("run", ""))
    assert comment["if"] == "github.event_name == 'pull_request'"
    assert "gitops diff --base" in comment["run"]
    # Only the commenting job may write, and only to pull requests.
    assert validate["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "permissions" not in sync
    assert sync["if"] == "github.event_name == 'push'" and sync["needs"] == "validate"
    assert sync["environment"] == "production"
    assert sync["concurrency"] == {"group": "sync-registry", "cancel-in-progress": False}
    assert "gitops sync-registry" in sync["steps"][-1]["run"]
    needed = {"ARGOCD_SERVER", "ARGOCD_AUTH_TOKEN", "MLFLOW_TRACKING_URI"}
    assert needed <= set(sync["steps"][-1]["env"])


@pytest.mark.skipif(CI_PROVIDER != "gitlab", reason="this repo runs GitHub Actions")
def test_gitlab_pipeline():
    pipeline = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())
    validate, sync = pipeline["validate"], pipeline["sync-registry"]
    script = "\n".join(validate["script"])
    for target in ("make lint", "make test-fast", "make validate", "make render-charts"):
        assert target in script
    assert 'if [ "$CI_PIPELINE_SOURCE" = "merge_request_event" ]' in script
    assert "gitops comment" in script
    assert sync["rules"] == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]
    assert sync["environment"] == "production" and sync["resource_group"] == "sync-registry"
    assert "gitops sync-registry" in "\n".join(sync["script"])
