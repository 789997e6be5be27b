"""Template updates as pull requests: `gitops template-update --propose`, as CI's scheduled job
runs it, against a small template published as a bare git repo with tagged versions (its
files under `platform/`, as this repo's template keeps them), a repo made from its first
version with an edit of its own, and the forge's API stand-in (GitHub's and GitLab's: this
repo holds both clients)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitops import settings
from gitops.cli import main

from .fake_apis import FakeGitHubPulls, FakeGitLabMerges

pytestmark = pytest.mark.slow
CRUFT = Path(sys.executable).parent / "cruft"
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
REPOSITORY, TOKEN = "acme/tiny-platform", "template-update-token"
BRANCH = "template/update"
FORGES = {
    "github": lambda: FakeGitHubPulls(TOKEN, REPOSITORY),
    "gitlab": lambda: FakeGitLabMerges(TOKEN, REPOSITORY),
}

# The template's placeholder, spelled so that this file holds none itself.
SLUG = "{" * 2 + "cookiecutter.slug" + "}" * 2
README = (f"# {SLUG}\n\nline a\n\n"
          + "".join(f"more text {n}\n" for n in range(8)) + "\nline b\nline c\n")  # fmt: skip
VERSIONS = {
    "1.0.0": {"values.yaml": f"name: {SLUG}\nreplicas: 1\n",
              "README.md": README,
              "changes": "- The first version."},
    "1.1.0": {"values.yaml": f"name: {SLUG}\nreplicas: 2\n",
              "README.md": README.replace("line b", "line b, as the template now says"),
              "changes": "- Two replicas.\n- README: line b says more."},
}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    result = subprocess.run([*GIT, "-C", str(repo), *args], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def release(work: Path, version: str) -> None:
    """Write the template's files at `version` under platform/, commit, tag, publish."""
    slug = work / "platform" / SLUG
    slug.mkdir(parents=True, exist_ok=True)
    answers = {"slug": "tiny-platform", "__template_version": version}
    (work / "platform" / "cookiecutter.json").write_text(json.dumps(answers))
    for name in ("values.yaml", "README.md"):
        (slug / name).write_text(VERSIONS[version][name])
    released = [v for v in VERSIONS if v.split(".") <= version.split(".")]  # one digit each
    log = "".join(f"## {v}\n{VERSIONS[v]['changes']}\n\n" for v in reversed(released))
    (work / "CHANGELOG.md").write_text(f"# Changelog\n\n{log}")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", f"version {version}")
    git(work, "tag", f"v{version}")
    git(work, "push", "--quiet", "--tags", "origin", "main")


@pytest.fixture
def template(tmp_path) -> tuple[Path, str]:
    """The template's work tree and its published bare repo (version 1.0.0 only)."""
    published, work = tmp_path / "template.git", tmp_path / "template"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(published)], check=True)
    work.mkdir()
    git(work, "init", "--quiet", "-b", "main")
    git(work, "remote", "add", "origin", str(published))
    release(work, "1.0.0")
    return work, f"file://{published}"


def made_from(template_url: str, directory: Path, edit: tuple[str, str, str]) -> str:
    """A repo made with cruft from version 1.0.0, with one edit of its own, published bare on
    main; its URL."""
    assert CRUFT.exists(), "make install puts cruft beside the gitops command"
    subprocess.run([str(CRUFT), "create", template_url, "--checkout", "v1.0.0", "--no-input",
                    "--directory", "platform", "--output-dir", str(directory)],
                   check=True, capture_output=True)  # fmt: skip
    project = directory / "tiny-platform"
    name, old, new = edit
    (project / name).write_text((project / name).read_text().replace(old, new))
    git(project, "init", "--quiet", "-b", "main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "made from the template, and one edit")
    published = directory / "tiny-platform.git"
    git(project, "clone", "--quiet", "--bare", str(project), str(published))
    return f"file://{published}"


@pytest.fixture(params=sorted(FORGES))
def forge(request, monkeypatch):
    """Each forge's stand-in, with this repo's CI provider set to it."""
    monkeypatch.setattr(settings, "CI_PROVIDER", request.param)
    monkeypatch.setenv("TEMPLATE_UPDATE_TOKEN", TOKEN)
    api = FORGES[request.param]()
    yield api
    api.close()


def propose(capsys, api, repo_url: str) -> dict:
    code = main(["template-update", "--propose", "--repo-url", repo_url,
                 "--repository", REPOSITORY, "--api-url", api.url])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out.strip().splitlines()[-1])


def branch_file(repo_url: str, name: str, tmp_path: Path) -> str:
    clone = tmp_path / f"check-{len(list(tmp_path.iterdir()))}"
    subprocess.run(["git", "clone", "--quiet", "--branch", BRANCH, repo_url, str(clone)],
                   check=True)  # fmt: skip
    return (clone / name).read_text()


def test_an_update_is_one_request_that_keeps_the_repos_edit(template, tmp_path, capsys, forge):
    work, url = template
    repo_url = made_from(url, tmp_path / "made", ("README.md", "line a", "line a, ours"))
    # Current: nothing is proposed, nothing is called but the lookup of an open request.
    assert propose(capsys, forge, repo_url)["action"] == "none"
    assert forge.seen() == [] and {m for m, _, _ in forge.requests} == {"GET"}
    release(work, "1.1.0")
    outcome = propose(capsys, forge, repo_url)
    assert outcome["action"] == "created", outcome
    assert (outcome["from"], outcome["to"], outcome["conflicts"]) == ("1.0.0", "1.1.0", "")
    [(state, title, body)] = forge.seen()
    assert state == "open" and title == "Template update: 1.0.0 to 1.1.0"
    assert "- Two replicas." in body and "The first version" not in body
    assert "None: every change of the template applied cleanly." in body
    readme = branch_file(repo_url, "README.md", tmp_path)
    assert "line a, ours" in readme and "line b, as the template now says" in readme
    assert "replicas: 2" in branch_file(repo_url, "values.yaml", tmp_path)
    record = json.loads(branch_file(repo_url, ".cruft.json", tmp_path))
    assert record["commit"] == git(work, "rev-parse", "v1.1.0")
    assert record["directory"] == "platform"
    # The next scheduled runs: the same request, nothing new pushed or opened.
    for _ in range(2):
        again = propose(capsys, forge, repo_url)
        assert (again["action"], again["pushed"]) == ("unchanged", "false"), again
    assert len(forge.seen()) == 1


def test_a_newer_version_updates_the_same_request_and_merged_main_closes_it(
    template, tmp_path, capsys, forge
):
    work, url = template
    repo_url = made_from(url, tmp_path / "made", ("README.md", "line a", "line a, ours"))
    release(work, "1.1.0")
    assert propose(capsys, forge, repo_url)["action"] == "created"
    VERSIONS["1.2.0"] = {**VERSIONS["1.1.0"], "changes": "- Nothing but a version."}
    try:
        release(work, "1.2.0")
    finally:
        del VERSIONS["1.2.0"]
    outcome = propose(capsys, forge, repo_url)
    assert (outcome["action"], outcome["to"]) == ("updated", "1.2.0"), outcome
    [(state, title, body)] = forge.seen()
    assert state == "open" and title == "Template update: 1.0.0 to 1.2.0"
    assert "- Nothing but a version." in body and "- Two replicas." in body
    # A person applied the update on main by hand: the request is obsolete and closed.
    clone = tmp_path / "by-hand"
    subprocess.run(["git", "clone", "--quiet", "--branch", BRANCH, repo_url, str(clone)],
                   check=True)  # fmt: skip
    git(clone, "push", "--quiet", "origin", f"{BRANCH}:main")
    closed = propose(capsys, forge, repo_url)
    assert closed["action"] == "closed", closed
    assert [state for state, _, _ in forge.seen()] == ["closed"]


def test_a_line_both_changed_is_listed_as_a_conflict(template, tmp_path, capsys, forge):
    work, url = template
    repo_url = made_from(url, tmp_path / "made", ("README.md", "line b", "line b, ours"))
    release(work, "1.1.0")
    outcome = propose(capsys, forge, repo_url)
    assert outcome["action"] == "created", outcome
    assert outcome["conflicts"] in ("README.md", "README.md.rej"), outcome
    [(_, _, body)] = forge.seen()
    assert "Resolve each before merging" in body and "`README.md" in body
    # The change that did not conflict still applied.
    assert "replicas: 2" in branch_file(repo_url, "values.yaml", tmp_path)


def test_a_wrong_record_token_or_api_is_named(tmp_path, capsys, monkeypatch):
    (tmp_path / ".cruft.json").write_text("{}")
    assert main(["--root", str(tmp_path), "template-check"]) == 1
    assert "not a cruft record" in capsys.readouterr().err
    (tmp_path / ".cruft.json").unlink()
    assert main(["--root", str(tmp_path), "template-update"]) == 1
    assert "no template record" in capsys.readouterr().err
    propose = ["template-update", "--propose", "--repo-url", "file:///nowhere",
               "--repository", REPOSITORY]  # fmt: skip
    monkeypatch.setenv("TEMPLATE_UPDATE_TOKEN", "")
    assert main([*propose, "--api-url", "http://127.0.0.1:9"]) == 1
    assert "TEMPLATE_UPDATE_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("TEMPLATE_UPDATE_TOKEN", TOKEN)
    assert main([*propose, "--api-url", "ftp://forge.example"]) == 1
    assert "must start with https://" in capsys.readouterr().err
    for name in ("GITHUB_REPOSITORY", "GITHUB_SERVER_URL", "CI_PROJECT_PATH", "CI_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["template-update", "--propose"]) == 1
    assert "--propose needs this repo's URL and path" in capsys.readouterr().err


def test_a_refused_token_is_named_and_leaves_no_request(template, tmp_path, capsys, forge,
                                                        monkeypatch):  # fmt: skip
    work, url = template
    repo_url = made_from(url, tmp_path / "made", ("README.md", "line a", "line a, ours"))
    release(work, "1.1.0")
    monkeypatch.setenv("TEMPLATE_UPDATE_TOKEN", "revoked")
    code = main(["template-update", "--propose", "--repo-url", repo_url,
                 "--repository", REPOSITORY, "--api-url", forge.url])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "HTTP 401" in err and "revoked" not in err
    assert forge.seen() == []
