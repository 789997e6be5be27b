"""What a pull request may change, by who opened it: `gitops check-change`.

A model repo's CI opens pull requests here as its `delivery_account` (model-repos.yaml). Such
a request may change `models/<its model>/` and nothing else: not another model, not apps/,
bootstrap/, infrastructure/ or values/ (which would give it the cluster). One that touches only
`models/<model>/staging/` is merged automatically once the required checks pass; anything in
production waits for a reviewer. Requests from anyone else are reviewed as usual (CODEOWNERS).

The changed paths are read from git as data: nothing of the head revision is executed, so the
check runs the base branch's code against a request that may have changed this very file.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import PlatformError, model_repos
from .model_repos import ModelRepo

SYMLINK_MODE = "120000"
# git's code for a file type change in `--raw` output, and the ones that carry two paths.
TWO_PATHS = ("R", "C")


@dataclass(frozen=True)
class Change:
    status: str  # git's status letter: A, M, D, R, C, T
    paths: tuple[str, ...]  # the path, or for a rename or copy the old and the new
    symlink: bool  # the new side is a symbolic link


@dataclass(frozen=True)
class Verdict:
    action: str  # "merge" (automatically, once checks pass), "review" or "refuse"
    reasons: tuple[str, ...]


def changes(root: Path, base: str, head: str) -> list[Change]:
    """Every change of `head` against its merge base with `base`, renames as two paths."""
    result = subprocess.run(
        ["git", "-C", str(root), "diff", "--raw", "-z", "--no-abbrev", "-M", "-C",
         f"{base}...{head}"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise PlatformError(f"git diff {base}...{head}: {result.stderr.decode().strip()}")
    fields = result.stdout.decode().split("\0")
    found, i = [], 0
    while i < len(fields) and fields[i]:
        meta = fields[i].lstrip(":").split()  # old mode, new mode, old sha, new sha, status
        status = meta[4][0]
        count = 2 if status in TWO_PATHS else 1
        paths = tuple(fields[i + 1 : i + 1 + count])
        found.append(Change(status, paths, symlink=meta[1] == SYMLINK_MODE))
        i += 1 + count
    return found


def trusted_repos(root: Path, base: str) -> list[ModelRepo]:
    """model-repos.yaml as the base revision has it: a request cannot register its own author."""
    result = subprocess.run(["git", "-C", str(root), "show", f"{base}:{model_repos.FILE}"],
                            capture_output=True, timeout=60, check=False)  # fmt: skip
    if result.returncode != 0:
        raise PlatformError(f"{model_repos.FILE} at {base}: {result.stderr.decode().strip()}")
    return model_repos.parse(result.stdout.decode())


def judge(author: str, found: list[Change], repos: list[ModelRepo]) -> Verdict:
    owner = next((repo for repo in repos if repo.delivery_account == author), None)
    if owner is None:
        return Verdict("review", (f"{author} is no model repo's delivery account: review as "
                                  "usual (CODEOWNERS)",))  # fmt: skip
    if not found:
        return Verdict("refuse", (f"{author}: the request changes nothing",))
    refused = []
    for change in found:
        for path in change.paths:
            if not path.startswith(owner.path):
                refused.append(f"{path}: outside {owner.path}, the only place {author} "
                               f"(model {owner.name}) may change")  # fmt: skip
        if change.symlink:
            refused.append(f"{change.paths[-1]}: a symbolic link; {author} may add files only")
    if refused:
        return Verdict("refuse", tuple(refused))
    staging = f"{owner.path}staging/"
    if all(path.startswith(staging) for change in found for path in change.paths):
        return Verdict("merge", (f"model {owner.name}: staging only; merged once the checks "
                                 "pass",))  # fmt: skip
    return Verdict("review", (f"model {owner.name}: changes beyond staging wait for a "
                              "reviewer",))  # fmt: skip
