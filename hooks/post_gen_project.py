"""Remove what the answers exclude and record the answers for later re-rendering.

The answers arrive as JSON data, with `_options` (cookiecutter.json): which files belong to
which option value. The record is a `.cruft.json`-compatible file, so `cruft update` (or a
re-bake with the same answers) can bring a generated repo up to a newer template version.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Paths of the machine that generated the repo: meaningless anywhere else. `_options` is
# the template's own description of its options: an update must read the new template's.
NOT_RECORDED = {"_output_dir", "_repo_dir", "__prompts__", "_options"}


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


def template_commit(repo_dir: str) -> str | None:
    """The template's git commit, when it was generated from a git checkout."""
    try:
        result = subprocess.run(
            ["git", "-C", repo_dir, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def record_answers(root: Path, answers: dict) -> None:
    """Write `.cruft.json`: template source, commit and every answer."""
    context = {k: v for k, v in answers.items() if k not in NOT_RECORDED}
    record = {
        "template": answers.get("_template"),
        "commit": template_commit(answers.get("_repo_dir", "")),
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
        "template_version": answers["__template_version"],
    }
    (root / ".cruft.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


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
