"""`gitops check-change`: a model repo's CI may change its own model's directory and nothing
else; staging alone merges by itself, production waits for a reviewer (real git repos)."""

from __future__ import annotations

import os

import pytest

from gitops import cli

from .overlays import commit_all, git, register, write_overlay

ACCOUNT = "iris-delivery[bot]"


@pytest.fixture
def repo(platform):
    """main with two registered models, and a branch `change` to edit."""
    write_overlay(platform, "iris", "staging", "1")
    write_overlay(platform, "wine", "staging", "1")
    register(platform, "iris")
    commit_all(platform, "two models")
    git(platform, "switch", "-q", "-c", "change")
    return platform


def check(root, author: str, capsys) -> tuple[int, str, str]:
    code = cli.main(["--root", str(root), "check-change", "--author", author,
                     "--base", "main", "--head", "change"])  # fmt: skip
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_staging_delivery_merges_by_itself(repo, capsys):
    write_overlay(repo, "iris", "staging", "2", tag="def5678")
    commit_all(repo, "iris staging v2")
    code, out, _ = check(repo, ACCOUNT, capsys)
    assert code == 0 and out.strip().endswith("verdict=merge")


def test_its_own_production_waits_for_a_reviewer(repo, capsys):
    write_overlay(repo, "iris", "production", "1")
    commit_all(repo, "promote iris")
    code, out, _ = check(repo, ACCOUNT, capsys)
    assert code == 0 and out.strip().endswith("verdict=review")


@pytest.mark.parametrize("path", [
    "models/wine/staging/kustomization.yaml",     # another model
    "apps/evil.yaml",                              # the cluster
    "model-repos.yaml",                            # its own trust
    "models/iris-evil/staging/kustomization.yaml",  # a look-alike model
])  # fmt: skip
def test_a_change_outside_its_model_is_refused_naming_the_path(repo, capsys, path):
    write_overlay(repo, "iris", "staging", "2", tag="def5678")
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text("kind: Anything\n")
    commit_all(repo, "sneak")
    code, out, err = check(repo, ACCOUNT, capsys)
    assert code == 1 and out == "verdict=refuse\n"
    assert f"{path}: outside models/iris/, the only place {ACCOUNT}" in err
    assert "models/iris/staging" not in err  # its own change is not named


def test_a_rename_out_of_its_model_and_a_symlink_are_refused(repo, capsys):
    git(repo, "mv", "models/iris/staging/base/network.yaml", "apps/network.yaml")
    os.symlink("../../../../apps", repo / "models" / "iris" / "staging" / "apps")
    commit_all(repo, "move and link")
    code, _, err = check(repo, ACCOUNT, capsys)
    assert code == 1
    assert "apps/network.yaml: outside models/iris/" in err
    assert "models/iris/staging/apps: a symbolic link" in err


def test_anyone_else_is_reviewed_as_usual_and_the_registry_is_the_bases(repo, capsys):
    (repo / "apps" / "extra.yaml").write_text("kind: Anything\n")
    # the request also registers its author: the check reads model-repos.yaml from the base
    (repo / "model-repos.yaml").write_text(
        (repo / "model-repos.yaml").read_text().replace("iris-delivery[bot]", "mallory")
    )
    commit_all(repo, "a person's change")
    code, out, _ = check(repo, "mallory", capsys)
    assert code == 0 and out.strip().endswith("verdict=review")


def test_a_request_that_changes_nothing_is_refused_and_bad_revisions_are_named(repo, capsys):
    code, _, err = check(repo, ACCOUNT, capsys)
    assert code == 1 and "changes nothing" in err
    code = cli.main(["--root", str(repo), "check-change", "--author", ACCOUNT, "--base",
                     "main", "--head", "no-such-branch"])  # fmt: skip
    assert code == 1 and "git diff main...no-such-branch" in capsys.readouterr().err
