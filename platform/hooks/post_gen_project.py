"""Keep the CI files of the chosen provider, write the admission policy and record the answers
(`.cruft.json`, as `cruft create --directory platform` writes it).

`public_source`, `in_template_order` and `record_answers` are the model template's hook's
(hooks/post_gen_project.py): each hook runs alone, so each holds them; a test keeps them
the same."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

# What plain cookiecutter adds to the answers about the machine that generated the repo: cruft
# records none of it (a path here is meaningless anywhere else).
NOT_RECORDED = ("_output_dir", "_repo_dir", "_checkout", "_template", "_commit")
# The template's directory that holds this cookiecutter.json (cruft's --directory).
DIRECTORY = "platform"
# Cookiecutter's abbreviations of public git hosts, as `cookiecutter gh:ORG/NAME` expands them.
ABBREVIATIONS = {
    "gh": "https://github.com/{0}.git",
    "gl": "https://gitlab.com/{0}.git",
    "bb": "https://bitbucket.org/{0}",
}


def remove_unused(root: Path, answers: dict) -> None:
    """The other provider's CI file, and the Applications of serving operators not chosen."""
    per_provider = {"github": [".gitlab-ci.yml", ".gitlab"], "gitlab": [".github"]}
    unused = per_provider[answers["ci_provider"]]
    runtimes = answers["serving_runtimes"].split("+")
    if "seldon-core" not in runtimes:
        unused += ["apps/seldon-core.yaml", "values/seldon-core.yaml"]
    if "kserve" not in runtimes:
        unused += ["apps/cert-manager.yaml", "apps/kserve.yaml", "values/cert-manager.yaml",
                   "values/kserve.yaml", "apps/envoy-gateway.yaml", "apps/gateway.yaml",
                   "values/envoy-gateway.yaml", "infrastructure/gateway"]  # fmt: skip
    for relative in unused:
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


def write_admission_policy(root: Path) -> None:
    """The model namespaces' admission policy, generated by the repo's own code (`gitops
    policy`) from its model-repos.yaml, exactly as the repo will regenerate it."""
    sys.path.insert(0, str(root / "src"))
    sys.dont_write_bytecode = True  # nothing of this import is left in the new repo
    try:
        from gitops import admission, model_repos

        admission.write(root, model_repos.load(root))
    finally:
        sys.path.remove(str(root / "src"))


def main() -> int:
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    root = Path.cwd()
    remove_unused(root, answers)
    write_admission_policy(root)
    record_answers(root, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
