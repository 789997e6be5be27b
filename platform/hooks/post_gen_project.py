"""Keep the CI files of the chosen provider and record the answers (`.cruft.json`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

# Paths of the machine that generated the repo: meaningless anywhere else.
MACHINE_SPECIFIC_KEYS = {"_output_dir", "_repo_dir", "__prompts__"}


def remove_unused(root: Path, answers: dict) -> None:
    """The other provider's CI file, and the Applications of serving operators not chosen."""
    unused = {"github": [".gitlab-ci.yml"], "gitlab": [".github"]}[answers["ci_provider"]]
    runtimes = answers["serving_runtimes"].split("+")
    if "seldon-core" not in runtimes:
        unused += ["apps/seldon-core.yaml", "values/seldon-core.yaml"]
    if "kserve" not in runtimes:
        unused += ["apps/cert-manager.yaml", "apps/kserve.yaml", "values/cert-manager.yaml",
                   "values/kserve.yaml"]  # fmt: skip
    for relative in unused:
        path = root / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def template_commit(repo_dir: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", repo_dir, "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def record_answers(root: Path, answers: dict) -> None:
    """`.cruft.json`: template, commit, the template directory and every answer."""
    context = {k: v for k, v in answers.items() if k not in MACHINE_SPECIFIC_KEYS}
    repo_dir = str(Path(answers.get("_repo_dir", ".")).parent)
    record = {
        "template": answers.get("_template"),
        "commit": template_commit(repo_dir),
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": "platform",
        "template_version": answers["__template_version"],
    }
    (root / ".cruft.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def main() -> int:
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    root = Path.cwd()
    remove_unused(root, answers)
    record_answers(root, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
