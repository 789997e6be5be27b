"""`gitops diff`: what a change does to the cluster, as Argo CD would render it, per Application.

Both sides are rendered the same way (the base in a temporary git worktree), so the diff
shows exactly the manifests that change: an image tag, a model version, a new environment.
Helm Applications show their Application and values (charts are rendered by Argo CD).
"""

from __future__ import annotations

import difflib
import subprocess
import tempfile
from pathlib import Path

import yaml

from . import PlatformError, inventory, kustomize

MARKER = "<!-- gitops-diff -->"
# Keep the comment under the providers' limits (GitHub 65,536 characters, GitLab 1,000,000).
MAX_COMMENT = 60_000


def render_all(root: Path) -> dict[str, str]:
    """Application name -> everything it deploys, as one stable YAML text."""
    inv = inventory.load(root)
    rendered = {}
    for application in inv.applications:
        parts = [yaml.safe_dump(application, sort_keys=True)]
        for source in inv.sources(application):
            if source.local:
                parts.append(kustomize.dump(inv.documents[source.path]))
            for value_file in source.value_files:
                values = inventory.read_values(root, value_file)
                parts.append(f"# {value_file}\n{yaml.safe_dump(values, sort_keys=True)}")
        rendered[application["metadata"]["name"]] = "---\n".join(parts)
    return rendered


def render_revision(repo: Path, revision: str) -> dict[str, str]:
    """render_all() of the repo at `revision` (a commit, branch or tag)."""
    with tempfile.TemporaryDirectory(prefix="gitops-base-") as scratch:
        worktree = Path(scratch) / "base"
        _git(repo, "worktree", "add", "--detach", str(worktree), revision)
        try:
            return render_all(worktree)
        finally:
            _git(repo, "worktree", "remove", "--force", str(worktree))


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise PlatformError(f"git {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout


def compare(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Application -> unified diff, for every Application that changes."""
    changes = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, ""), after.get(name, "")
        if old != new:
            changes[name] = "".join(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    fromfile=f"{name} (base)" if name in before else "/dev/null",
                    tofile=f"{name} (this change)" if name in after else "/dev/null",
                )
            )
    return changes


def markdown(before: dict[str, str], after: dict[str, str], changes: dict[str, str]) -> str:
    """The pull request comment: a summary line per Application and its diff, folded."""
    lines = [MARKER, "### Rendered changes", ""]
    if not changes:
        lines.append("No Application renders differently: nothing changes in the cluster.")
        return "\n".join(lines) + "\n"
    for name in changes:
        state = "added" if name not in before else "removed" if name not in after else "changed"
        lines.append(f"- `{name}`: {state}")
    budget = MAX_COMMENT - sum(len(line) + 1 for line in lines) - 200
    for name, diff in changes.items():
        block = (
            f"\n<details><summary><code>{name}</code></summary>\n\n```diff\n{diff}```\n</details>"
        )
        if len(block) > budget:
            lines.append(f"\n`{name}`: diff too long for a comment; run `make diff` locally.")
            continue
        budget -= len(block)
        lines.append(block)
    return "\n".join(lines) + "\n"
