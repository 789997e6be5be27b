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
    jobs = workflow["jobs"]
    validate, comment, sync = jobs["validate"], jobs["comment"], jobs["sync-registry"]
    runs = [step.get("run", "") for step in validate["steps"]]
    for target in ("make lint", "make test-fast", "make validate", "make render-charts"):
        assert target in runs
    # The job that runs the pull request's code may write nothing: it renders the diff...
    assert "permissions" not in validate and workflow["permissions"] == {"contents": "read"}
    render = next(s for s in validate["steps"] if "gitops diff --base" in s.get("run", ""))
    assert render["if"] == "github.event_name == 'pull_request'"
    # ... and the commenting job, the only one allowed to write, runs the base branch's code.
    assert comment["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert comment["needs"] == "validate" and comment["if"] == render["if"]
    checkout = comment["steps"][0]
    assert checkout["with"]["ref"].replace(" ", "") == "$" + "{" * 2 + "github.base_ref" + "}" * 2
    assert "gitops comment" in comment["steps"][-1]["run"]
    trust = yaml.safe_load((REPO / ".github" / "workflows" / "trust.yml").read_text())
    # PyYAML reads the key `on` as True
    assert list(trust[True]) == ["pull_request_target"] and trust["permissions"] == {}
    steps = trust["jobs"]["check-change"]["steps"]
    assert "ref" not in steps[0]["with"]  # the base branch: pull_request_target's default
    assert not any("refs/pull" in str(s.get("with", {})) for s in steps)  # head never checked out
    merge = steps[-1]
    assert merge["if"] == "steps.check.outputs.verdict == 'merge'" and "--auto" in merge["run"]
    jobs = {**jobs, "check-change": trust["jobs"]["check-change"]}
    for job in jobs.values():  # no checkout keeps the token
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    assert "permissions" not in sync
    assert sync["if"] == "github.event_name == 'push'" and sync["needs"] == "validate"
    assert sync["environment"] == "production"
    assert sync["concurrency"] == {"group": "sync-registry", "cancel-in-progress": False}
    assert "gitops sync-registry" in sync["steps"][-1]["run"]
    needed = {"ARGOCD_SERVER", "ARGOCD_AUTH_TOKEN", "MLFLOW_TRACKING_URI"}
    assert needed <= set(sync["steps"][-1]["env"])
    # Every Monday or by hand, the template update runs alone, with its own token only.
    assert set(workflow[True]) == {"pull_request", "push", "schedule", "workflow_dispatch"}
    scheduled = "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'"
    update = jobs["template-update"]
    assert update["if"] == scheduled and "permissions" not in update
    assert update["steps"][-1]["run"] == "make template-update PROPOSE=1"
    assert list(update["steps"][-1]["env"]) == ["TEMPLATE_UPDATE_TOKEN"]
    for name, job in workflow["jobs"].items():  # every other job runs on changes only
        if name != "template-update":
            assert "schedule" not in job["if"] and "workflow_dispatch" not in job["if"], name
            assert "pull_request" in job["if"] or "push" in job["if"], name


@pytest.mark.skipif(CI_PROVIDER != "gitlab", reason="this repo runs GitHub Actions")
def test_gitlab_pipeline():
    pipeline = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())
    validate, sync = pipeline["validate"], pipeline["sync-registry"]
    script = "\n".join(validate["script"])
    for target in ("make lint", "make test-fast", "make validate", "make render-charts"):
        assert target in script
    assert 'if [ "$CI_PIPELINE_SOURCE" = "merge_request_event" ]' in script
    assert "gitops diff" in script and "gitops comment" not in script
    comment = pipeline["comment"]  # posts what validate rendered, runs none of its tests
    assert comment["needs"] == ["validate"] and "gitops comment" in "\n".join(comment["script"])
    assert comment["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    check = pipeline["check-change"]  # judged by the target branch's code, not the request's
    script = "\n".join(check["script"])
    assert 'git worktree add -q /tmp/base "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"' in script
    assert "/tmp/base/.venv/bin/gitops --root . check-change" in script
    assert check["rules"] == comment["rules"]
    tools = "\n".join(pipeline["default"]["before_script"])
    assert tools.count("sha256sum --check") == 2  # kubectl and helm, checked before use
    never_scheduled = {"if": '$CI_PIPELINE_SOURCE == "schedule"', "when": "never"}
    assert sync["rules"] == [never_scheduled, {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]
    assert validate["rules"][0] == never_scheduled
    # A schedule with TEMPLATE_UPDATE=1 runs the template update alone; other schedules nothing.
    scheduled = {"if": '$CI_PIPELINE_SOURCE == "schedule" && $TEMPLATE_UPDATE == "1"'}
    assert pipeline["workflow"]["rules"][1:3] == [scheduled, never_scheduled]
    update = pipeline["template-update"]
    assert update["rules"] == [scheduled] and update["script"] == ["make template-update PROPOSE=1"]
    for name, job in pipeline.items():  # every job but it: never on the schedule
        if isinstance(job, dict) and "script" in job and name != "template-update":
            rules = job.get("rules", [])
            assert rules and (rules[0] == never_scheduled or "merge_request_event" in
                              rules[0]["if"]), name  # fmt: skip
    assert sync["environment"] == "production" and sync["resource_group"] == "sync-registry"
    assert "gitops sync-registry" in "\n".join(sync["script"])
