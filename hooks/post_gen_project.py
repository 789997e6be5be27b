"""Remove what the answers exclude and record the answers for later re-rendering.

The answers arrive as JSON data, with `_options` (cookiecutter.json): which files belong to
which option value. The record is `.cruft.json` as cruft itself writes it, so `cruft check`
and `cruft update` (and `make template-update` in the repo) work the same whether the repo
was made with cookiecutter or with cruft.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# What plain cookiecutter adds to the answers about the machine that generated the repo: cruft
# records none of it (a path here is meaningless anywhere else).
NOT_RECORDED = ("_output_dir", "_repo_dir", "_checkout", "_template", "_commit")
# The template's directory that holds this cookiecutter.json (cruft's --directory): its root.
DIRECTORY = None
# Cookiecutter's abbreviations of public git hosts, as `cookiecutter gh:ORG/NAME` expands them.
ABBREVIATIONS = {
    "gh": "https://github.com/{0}.git",
    "gl": "https://gitlab.com/{0}.git",
    "bb": "https://bitbucket.org/{0}",
}


def excluded_paths(answers: dict) -> list[str]:
    """The paths that exist only for option values other than the answers'.

    `_options` in cookiecutter.json maps each option value to the files and directories that
    belong to it (a runtime's directories, a CI provider's file, ...). A path that several
    values share (the MLServer code of two runtimes) stays when any chosen value lists it.
    """
    excluded, kept = [], set()
    for option, values in answers["_options"].items():
        answer = answers[option]
        chosen = json.dumps(answer) if isinstance(answer, bool) else answer  # true / false
        for value, paths in values.items():
            formatted = [path.format(**answers) for path in paths]
            if value == chosen:
                kept.update(formatted)
            else:
                excluded += formatted
    return [path for path in dict.fromkeys(excluded) if path not in kept]


def remove_excluded(root: Path, answers: dict) -> None:
    for relative in excluded_paths(answers):
        path = root / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def git(directory: str, *args: str) -> str | None:
    """A git command's output in `directory`, or None when it is not a git checkout."""
    try:
        result = subprocess.run(
            ["git", "-C", directory, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def public_source(template: str, repo_dir: str) -> str:
    """Where the template can be fetched again: cookiecutter's abbreviations expanded, a file
    URL as an absolute path (as cruft resolves them), and a local checkout as the remote it
    was cloned from (its own path only when it has none)."""
    prefix, _, rest = template.partition(":")
    if prefix in ABBREVIATIONS and rest and not rest.startswith("//"):
        return ABBREVIATIONS[prefix].format(rest)
    if template.startswith("file://"):  # a published repo on this machine: as cruft has it
        path = Path(template.removeprefix("file://"))
        return str(path.absolute()) if path.exists() else template
    if "://" in template or template.startswith("git@"):
        return template
    local = Path(template).expanduser()
    if local.is_dir():
        return git(str(local), "remote", "get-url", "origin") or str(local.resolve())
    return template


def in_template_order(value: object, order: object) -> object:
    """`value` (the answers, whose mappings arrive sorted) with every mapping in the order of
    `order` (cookiecutter.json as written), as cruft writes them."""
    if not isinstance(value, dict) or not isinstance(order, dict):
        return value
    keys = [k for k in order if k in value] + [k for k in value if k not in order]
    return {k: in_template_order(value[k], order.get(k)) for k in keys}


def record_answers(root: Path, answers: dict) -> None:
    """Write `.cruft.json` as `cruft create` would: the template's public source, its commit
    and checkout, and the context (every answer in cookiecutter.json's order, then
    `_template` and `_commit`). A render made by cruft (`_commit` set: `cruft create`,
    `cruft update`) gets none: cruft writes its own, and an update's diff never touches it."""
    if "_commit" in answers:
        return
    repo_dir = answers.get("_repo_dir", "")
    source = public_source(answers.get("_template") or repo_dir, repo_dir)
    commit = git(repo_dir, "rev-parse", "HEAD")
    written = Path(repo_dir, "cookiecutter.json")
    order = json.loads(written.read_text()) if written.is_file() else {}
    context = in_template_order({k: v for k, v in answers.items() if k not in NOT_RECORDED}, order)
    context |= {"_template": source, "_commit": commit}
    record = {
        "template": source,
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": DIRECTORY,
    }
    # cruft's own layout (cruft/_commands/utils/cruft.py json_dumps): an update then rewrites it
    # line for line.
    text = json.dumps(record, ensure_ascii=False, indent=2, separators=(",", ": "))
    (root / ".cruft.json").write_text(text + "\n")


def write_monitoring_files(root: Path, package: str) -> None:
    """k8s/base/monitoring/*.json and compose/rules.yml, written by the repo's own generator
    (`make monitoring`), run as a script: the hook never imports the generated package.

    The generator needs only the standard library and PyYAML (a cookiecutter dependency), so
    the files exist, identical to what the repo regenerates, from the first commit on.
    """
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", f"{package}.monitoring", "--root", str(root)],
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"ERROR: generating the monitoring files failed:\n{result.stderr}")


def main() -> int:
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    root = Path.cwd()
    remove_excluded(root, answers)
    write_monitoring_files(root, answers["package_name"])
    record_answers(root, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
