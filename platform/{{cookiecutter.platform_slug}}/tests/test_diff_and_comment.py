"""`gitops diff` renders both sides; `gitops comment` keeps one comment per pull request."""

from __future__ import annotations

import pytest

from gitops import cli, diff

from .fake_apis import FakeGitHub, FakeGitLab
from .overlays import commit_all, digest_of, git, write_overlay


def test_the_diff_shows_the_version_change_of_exactly_one_application(platform):
    write_overlay(platform, "iris", "staging", "1")
    commit_all(platform, "iris staging v1")
    git(platform, "switch", "-q", "-c", "promote")
    write_overlay(platform, "iris", "staging", "2", tag="def5678")
    write_overlay(platform, "wine", "staging", "1")

    before = diff.render_revision(platform, "main")
    after = diff.render_all(platform)
    changes = diff.compare(before, after)

    # wine is a new model: its registration changes the admission policy too
    assert sorted(changes) == ["iris-staging", "policies", "wine-staging"]
    assert "-  MODEL_VERSION: '1'" in changes["iris-staging"]
    assert "+  MODEL_VERSION: '2'" in changes["iris-staging"]
    added = [line for line in changes["iris-staging"].splitlines() if line.startswith("+")]
    assert any(line.endswith(f"image: ghcr.io/acme/iris:def5678@{digest_of('def5678')}")
               for line in added)  # fmt: skip
    text = diff.markdown(before, after, changes)
    assert text.startswith(diff.MARKER)
    assert "- `iris-staging`: changed" in text and "- `wine-staging`: added" in text
    assert not list(platform.parent.glob("gitops-base-*")), "the worktree is removed"
    assert git(platform, "worktree", "list").count("\n") == 0


def test_no_change_says_so(platform, tmp_path):
    output = tmp_path / "diff.md"
    assert (
        cli.main(["--root", str(platform), "diff", "--base", "HEAD", "--output", str(output)]) == 0
    )
    assert "No Application renders differently" in output.read_text()


def test_an_unknown_base_revision_is_a_clear_error(platform, capsys):
    assert cli.main(["--root", str(platform), "diff", "--base", "no-such-branch"]) == 1
    assert "git worktree add failed" in capsys.readouterr().err


@pytest.fixture
def comment_file(tmp_path):
    path = tmp_path / "diff.md"
    path.write_text(f"{diff.MARKER}\nfirst\n")
    return path


@pytest.fixture
def github(monkeypatch):
    """A GitHub stand-in with pull request 12 of acme/platform, and the CI variables for it."""
    fake = FakeGitHub("s3cret", "acme/platform", 12)
    monkeypatch.setattr("gitops.settings.CI_PROVIDER", "github")
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_TOKEN", "s3cret")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/platform")
    monkeypatch.setenv("PULL_REQUEST_NUMBER", "12")
    yield fake
    fake.close()


def test_github_comment_is_created_then_left_then_updated(github, comment_file, capsys):
    for expected in ["created", "unchanged"]:
        assert cli.main(["comment", "--file", str(comment_file)]) == 0
        assert f"diff comment {expected}" in capsys.readouterr().out
    comment_file.write_text(f"{diff.MARKER}\nsecond\n")
    assert cli.main(["comment", "--file", str(comment_file)]) == 0
    assert "diff comment updated" in capsys.readouterr().out
    writes = [(m, p) for m, p, _ in github.requests if m != "GET"]
    assert writes == [
        ("POST", "/repos/acme/platform/issues/12/comments"),
        ("PATCH", "/repos/acme/platform/issues/comments/101"),
    ]
    assert [c["body"] for c in github.comments] == ["looks good", f"{diff.MARKER}\nsecond\n"]


def test_gitlab_note_is_created_then_updated(monkeypatch, comment_file, capsys):
    monkeypatch.setattr("gitops.settings.CI_PROVIDER", "gitlab")
    gitlab = FakeGitLab("glpat-x", "acme/platform", 4)
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-x")
    monkeypatch.setenv("CI_API_V4_URL", gitlab.url)
    monkeypatch.setenv("CI_PROJECT_ID", "acme/platform")
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "4")
    try:
        assert cli.main(["comment", "--file", str(comment_file)]) == 0
        comment_file.write_text(f"{diff.MARKER}\nsecond\n")
        assert cli.main(["comment", "--file", str(comment_file)]) == 0
    finally:
        gitlab.close()
    assert [n["body"] for n in gitlab.notes] == [f"{diff.MARKER}\nsecond\n"]
    assert "diff comment updated" in capsys.readouterr().out


def test_a_wrong_token_fails_without_printing_it(github, monkeypatch, comment_file, capsys):
    monkeypatch.setenv("GITHUB_TOKEN", "wrong-token")
    assert cli.main(["comment", "--file", str(comment_file)]) == 1
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "wrong-token" not in err
    assert github.comments == [{"id": 7, "body": "looks good"}]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [("PULL_REQUEST_NUMBER", "", "missing environment variable(s): PULL_REQUEST_NUMBER"),
     ("PULL_REQUEST_NUMBER", "12abc", "PULL_REQUEST_NUMBER='12abc': must be a positive integer")],
)  # fmt: skip
def test_bad_ci_inputs_are_named(monkeypatch, comment_file, capsys, variable, value, message):
    monkeypatch.setattr("gitops.settings.CI_PROVIDER", "github")
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/platform")
    monkeypatch.setenv(variable, value)
    assert cli.main(["comment", "--file", str(comment_file)]) == 1
    assert message in capsys.readouterr().err
