"""Template updates as pull requests: `template-update --propose`, as CI's scheduled job runs
it, against a small template published as a bare git repo with tagged versions, a repo made
from its first version with an edit of its own, and the forge's API stand-in."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.cli import main

from .review_apis import fake_review_api

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CRUFT = REPO / ".venv-template" / "bin" / "cruft"
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
REPOSITORY, TOKEN = "acme/tiny-service", "template-update-token"
BRANCH = "template/update"

README = ("# {{ '{{cookiecutter.project_slug}}' }}\n\nline a\n\n"
          + "".join(f"more text {n}\n" for n in range(8)) + "\nline b\nline c\n")  # fmt: skip
VERSIONS = {
    "1.0.0": {"settings.txt": "greeting = {{ '{{cookiecutter.greeting}}' }}\nlimit = 1\n",
              "README.md": README,
              "changes": "- The first version."},
    "1.1.0": {"settings.txt": "greeting = {{ '{{cookiecutter.greeting}}' }}\nlimit = 2\n",
              "README.md": README.replace("line b", "line b, as the template now says"),
              "changes": "- `limit` is 2.\n- README: line b says more."},
}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    result = subprocess.run([*GIT, "-C", str(repo), *args], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def release(work: Path, version: str) -> None:
    """Write the template's files at `version`, commit, tag v<version>, publish."""
    slug = work / "{{ '{{cookiecutter.project_slug}}' }}"
    slug.mkdir(parents=True, exist_ok=True)
    answers = {"project_slug": "tiny-service", "greeting": "hello", "__template_version": version}
    (work / "cookiecutter.json").write_text(json.dumps(answers))
    for name in ("settings.txt", "README.md"):
        (slug / name).write_text(VERSIONS[version][name])
    released = [v for v in VERSIONS if v.split(".") <= version.split(".")]  # one digit each
    log = "".join(f"## {v}\n{VERSIONS[v]['changes']}\n\n" for v in reversed(released))
    (work / "CHANGELOG.md").write_text(f"# Changelog\n\n{log}")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", f"version {version}")
    git(work, "tag", f"v{version}")
    git(work, "push", "--quiet", "--tags", "origin", "main")  # fmt: skip


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
    assert CRUFT.exists(), "make install puts cruft into .venv-template"
    subprocess.run([str(CRUFT), "create", template_url, "--checkout", "v1.0.0", "--no-input",
                    "--output-dir", str(directory)], check=True, capture_output=True)  # fmt: skip
    project = directory / "tiny-service"
    name, old, new = edit
    (project / name).write_text((project / name).read_text().replace(old, new))
    git(project, "init", "--quiet", "-b", "main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "made from the template, and one edit")
    published = directory / "tiny-service.git"
    git(project, "clone", "--quiet", "--bare", str(project), str(published))
    return f"file://{published}"


def propose(capsys, monkeypatch, api_url: str, repo_url: str) -> dict:
    monkeypatch.setenv("TEMPLATE_UPDATE_TOKEN", TOKEN)
    code = main(["template-update", "--propose", "--cruft", str(CRUFT), "--repo-url", repo_url,
                 "--repository", REPOSITORY, "--api-url", api_url])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out.strip().splitlines()[-1])


def branch_file(repo_url: str, name: str, tmp_path: Path) -> str:
    clone = tmp_path / f"check-{len(list(tmp_path.iterdir()))}"
    subprocess.run(["git", "clone", "--quiet", "--branch", BRANCH, repo_url, str(clone)],
                   check=True)  # fmt: skip
    return (clone / name).read_text()


def test_an_update_is_one_request_that_keeps_the_repos_edit(template, tmp_path, capsys,
                                                            monkeypatch):  # fmt: skip
    work, url = template
    repo_url = made_from(url, tmp_path / "made", ("README.md", "line a", "line a, ours"))
    with fake_review_api(REPOSITORY, TOKEN) as api:
        # Current: nothing is proposed.
        assert propose(capsys, monkeypatch, api.url, repo_url)["action"] == "none"
        assert not api.reviews and not api.problems
        release(work, "1.1.0")
        outcome = propose(capsys, monkeypatch, api.url, repo_url)
        assert outcome["action"] == "created", outcome
        assert (outcome["from"], outcome["to"], outcome["conflicts"]) == ("1.0.0", "1.1.0", "")
        review = api.review()
        assert review.branch == BRANCH and review.title == "Template update: 1.0.0 to 1.1.0"
        assert "- `limit` is 2." in review.body and "The first version" not in review.body
        assert "None: every change of the template applied cleanly." in review.body
        readme = branch_file(repo_url, "README.md", tmp_path)
        assert "line a, ours" in readme and "line b, as the template now says" in readme
        assert "limit = 2" in branch_file(repo_url, "settings.txt", tmp_path)
        cruft = json.loads(branch_file(repo_url, ".cruft.json", tmp_path))
        assert cruft["commit"] == git(work, "rev-parse", "v1.1.0")
        # The next scheduled run: the same request, nothing new.
        again = propose(capsys, monkeypatch, api.url, repo_url)
        assert again["action"] == "unchanged", again
        assert len(api.from_branch(BRANCH)) == 1 and not api.problems


def test_a_line_both_changed_is_listed_as_a_conflict(template, tmp_path, capsys, monkeypatch):
    work, url = template
    repo_url = made_from(url, tmp_path / "made", ("README.md", "line b", "line b, ours"))
    release(work, "1.1.0")
    with fake_review_api(REPOSITORY, TOKEN) as api:
        outcome = propose(capsys, monkeypatch, api.url, repo_url)
        assert outcome["action"] == "created", outcome
        assert outcome["conflicts"] in ("README.md", "README.md.rej"), outcome
        body = api.review().body
        assert "Resolve each before merging" in body and "`README.md" in body
        # The change that did not conflict still applied.
        assert "limit = 2" in branch_file(repo_url, "settings.txt", tmp_path)
        assert not api.problems


def test_a_wrong_record_or_token_is_named(tmp_path, capsys, monkeypatch):
    (tmp_path / ".cruft.json").write_text("{}")
    code = main(["template-check", "--root", str(tmp_path)])
    assert code == 1 and "not a cruft record" in capsys.readouterr().err
    monkeypatch.setenv("TEMPLATE_UPDATE_TOKEN", "")
    code = main(["template-update", "--propose", "--repo-url", "file:///nowhere",
                 "--repository", REPOSITORY, "--api-url", "http://127.0.0.1:9"])  # fmt: skip
    assert code == 1 and "TEMPLATE_UPDATE_TOKEN is empty" in capsys.readouterr().err
