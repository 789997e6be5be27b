"""`.cruft.json`: a bake made with plain cookiecutter records what `cruft create` records, so
cruft's check and update (and the generated repo's `make template-update`) treat both alike.

The template is copied into a git repo of its own (its working tree, one commit per version),
as a user's clone of the published template would be."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from .baking import ROOT

GIT = ["git", "-c", "user.name=template", "-c", "user.email=template@example.com"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    """The template's working tree (tracked and new files) committed and tagged v1."""
    repo = tmp_path_factory.mktemp("template") / "mlops-template"
    listed = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():
            (repo / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / relative)
    git(repo, "init", "--quiet", "--initial-branch", "main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "template v1")
    git(repo, "tag", "v1")
    return repo


def cruft_create(template: str, output: Path, checkout: str | None = None,
                 directory: str | None = None) -> Path:  # fmt: skip
    from cruft import create

    return create(template, output_dir=output, no_input=True, checkout=checkout,
                  directory=directory)  # fmt: skip


@pytest.mark.slow
def test_a_plain_bake_records_what_cruft_create_records(template_repo, tmp_path):
    plain = Path(cookiecutter(str(template_repo), no_input=True, output_dir=str(tmp_path / "a")))
    by_cruft = cruft_create(str(template_repo), tmp_path / "b")
    assert (plain / ".cruft.json").read_text() == (by_cruft / ".cruft.json").read_text()
    # And from a git URL with a checkout, as `cookiecutter gh:ORG/mlops-template --checkout`.
    published = tmp_path / "mlops-template.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(template_repo), str(published)],
                   check=True)  # fmt: skip
    url = f"file://{published}"
    # Its clone goes into this test's folder, not the shared ~/.cookiecutters.
    config = tmp_path / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'clones'}\nreplay_dir: {tmp_path / 'replay'}\n"
    )
    plain = Path(cookiecutter(url, checkout="v1", no_input=True, output_dir=str(tmp_path / "c"),
                              config_file=str(config)))  # fmt: skip
    by_cruft = cruft_create(url, tmp_path / "d", checkout="v1")
    assert (plain / ".cruft.json").read_text() == (by_cruft / ".cruft.json").read_text()


@pytest.mark.slow
def test_the_platform_repo_records_what_cruft_create_records(template_repo, tmp_path):
    plain = Path(cookiecutter(str(template_repo), directory="platform", no_input=True,
                              output_dir=str(tmp_path / "a")))  # fmt: skip
    by_cruft = cruft_create(str(template_repo), tmp_path / "b", directory="platform")
    assert (plain / ".cruft.json").read_text() == (by_cruft / ".cruft.json").read_text()


def test_both_hooks_record_with_the_same_code():
    """Each hook runs alone (it cannot import the other): the record's code is kept the same."""

    def record_code(hook: Path) -> str:
        text = hook.read_text()
        return text[text.index("def git(") : text.index("def write_")]

    assert record_code(ROOT / "hooks" / "post_gen_project.py") == record_code(
        ROOT / "platform" / "hooks" / "post_gen_project.py"
    )


@pytest.mark.slow
def test_cruft_updates_a_plain_bake_keeping_its_edit_and_rejecting_nothing(template_repo, tmp_path):
    from cruft import check, update

    bake = Path(cookiecutter(str(template_repo), no_input=True, output_dir=str(tmp_path)))
    git(bake, "init", "--quiet", "--initial-branch", "main")
    readme = bake / "README.md"
    readme.write_text(readme.read_text() + "\nOur own note.\n")  # the repo's own edit
    git(bake, "add", "--all")
    git(bake, "commit", "--quiet", "-m", "baked, and one edit")
    assert check(bake)  # current

    makefile = template_repo / "{{cookiecutter.project_slug}}" / "Makefile"
    original = makefile.read_text()
    try:
        makefile.write_text(original.replace("## list the targets", "## list every target"))
        git(template_repo, "commit", "--quiet", "--all", "-m", "template v2")
        git(template_repo, "tag", "v2")
        assert not check(bake)  # a newer template exists
        assert update(bake, skip_apply_ask=True, checkout="v2")
    finally:
        makefile.write_text(original)
    assert not list(bake.rglob("*.rej"))  # nothing rejected, .cruft.json included
    assert git(bake, "ls-files", "--others") == ""
    assert git(bake, "diff", "HEAD", "--name-only").splitlines() == [".cruft.json", "Makefile"]
    assert "## list every target" in (bake / "Makefile").read_text()
    assert "Our own note." in readme.read_text()
    assert git(template_repo, "rev-parse", "v2") in (bake / ".cruft.json").read_text()


def test_the_changelog_tags_and_versions_agree():
    """The newest CHANGELOG section is the version both templates and pyproject.toml carry,
    the sections go newest first, and every version tag of this checkout has its section."""
    import json
    import re
    import tomllib

    sections = re.findall(r"^## (\d+)\.(\d+)\.(\d+) - \d{4}-\d{2}-\d{2}$",
                          (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)  # fmt: skip
    versions = [tuple(map(int, s)) for s in sections]
    assert versions and versions == sorted(versions, reverse=True)
    newest = ".".join(map(str, versions[0]))
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == newest
    for template in (ROOT / "cookiecutter.json", ROOT / "platform" / "cookiecutter.json"):
        assert json.loads(template.read_text())["__template_version"] == newest, template
    tags = git(ROOT, "tag", "--list", "v*").split()
    for tag in tags:
        assert tuple(map(int, tag[1:].split("."))) in versions, f"{tag} has no CHANGELOG section"


@pytest.fixture(scope="module")
def released_and_next(template_repo, tmp_path_factory) -> tuple[Path, str, str]:
    """This checkout's history with its tags, and the working tree as one commit on top: the
    published template (a bare repo), the newest release tag it changes and that commit."""
    published = tmp_path_factory.mktemp("published") / "mlops-template.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(published)], check=True)
    work = tmp_path_factory.mktemp("work") / "mlops-template"
    subprocess.run(["git", "clone", "--quiet", str(published), str(work)], check=True)
    tags = git(work, "tag", "--list", "v*", "--sort=-v:refname").split()
    if not tags:
        pytest.skip("this checkout has no release tags (a shallow clone?)")
    for path in [p for p in work.iterdir() if p.name != ".git"]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.copytree(template_repo, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "next")
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/next")
    # The newest release this checkout changes (the one just tagged, if any, changes nothing).
    changed = [t for t in tags if git(work, "diff", "--name-only", t, "HEAD")]
    if not changed:
        pytest.skip("no release before this checkout's content")
    return published, changed[0], git(work, "rev-parse", "HEAD")


@pytest.mark.slow
@pytest.mark.parametrize("directory", [None, "platform"], ids=["model repo", "platform repo"])
def test_a_repo_of_the_last_release_updates_to_this_one_rejecting_nothing(
    released_and_next, tmp_path, directory
):
    """What a user's repo meets: made from the newest release tag with plain cookiecutter, an
    edit of its own in a file the update leaves alone, then `cruft update` to this checkout:
    nothing rejected, the edit kept, every other file as a bake of this checkout has it."""
    from cruft import update

    published, tag, following = released_and_next

    def bake(checkout: str, into: str) -> Path:
        return Path(cookiecutter(f"file://{published}", checkout=checkout, no_input=True,
                                 output_dir=str(tmp_path / into), directory=directory))  # fmt: skip

    old, new = bake(tag, "old"), bake(following, "new")
    kept = sorted(p.relative_to(old) for p in old.rglob("*.py")
                  if (new / p.relative_to(old)).is_file()
                  and (new / p.relative_to(old)).read_text() == p.read_text())  # fmt: skip
    assert kept, "every Python file changed: no file to make the repo's own edit in"
    edited = old / kept[0]
    edited.write_text(edited.read_text() + "\n# our own note\n")
    git(old, "init", "--quiet", "--initial-branch", "main")
    git(old, "add", "--all")
    git(old, "commit", "--quiet", "-m", f"made from {tag}, and one edit")
    assert update(old, skip_apply_ask=True, checkout=following)
    assert not list(old.rglob("*.rej")), f"rejected: {list(old.rglob('*.rej'))}"
    assert edited.read_text().endswith("\n# our own note\n")
    ours = {p.relative_to(old) for p in old.rglob("*") if p.is_file() and ".git" not in p.parts}
    theirs = {p.relative_to(new) for p in new.rglob("*") if p.is_file()}
    assert ours == theirs
    differ = [str(p) for p in sorted(ours - {kept[0], Path(".cruft.json")})
              if (old / p).read_bytes() != (new / p).read_bytes()]  # fmt: skip
    assert not differ, f"not as this checkout bakes them: {differ}"
    assert following in (old / ".cruft.json").read_text()
