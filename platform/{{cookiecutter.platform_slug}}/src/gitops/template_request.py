"""The template's newest version proposed as one pull/merge request (CI's scheduled job).

A fresh clone of this repo, the branch `template/update` built anew from main, `cruft update`
to the newest tag (`template_update.py`, the same as the model repos'), pushed only when its
content changed; the request is opened once and edited in place after, a repo that is
current gets none and an open one is closed.

The token reaches git only through environment-provided config (GIT_CONFIG_*), never a URL,
an argument or a file, so it cannot appear in a log, a process list or the clone's config.
The push holds only if the branch is where this run found it (a lease): two runs at once
cannot overwrite each other.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from . import PlatformError, template_update
from .review import GitHubPulls, GitLabMerges

MAIN_BRANCH = "main"
GIT_TIMEOUT = 120


class Checkout:
    """A clone of this repo that may push one branch, authenticated by `token`."""

    def __init__(self, url: str, workdir: Path, git_user: str, token: str) -> None:
        self.url, self.path, self._token = url, workdir / "repo", token
        header = base64.b64encode(f"{git_user}:{token}".encode()).decode()
        self._env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {header}",
        }

    def git(self, *args: str, check: bool = True, cwd: Path | None = None) -> str:
        identity = ["-c", "user.name=platform CI", "-c", "user.email=platform-ci@localhost"]
        result = subprocess.run(
            ["git", *identity, *args], cwd=cwd or self.path, env=self._env,
            capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            error = result.stderr.strip().replace(self._token, "***")
            raise PlatformError(f"git {args[0]} failed: {error[:500]}")
        return result.stdout.strip()

    def clone(self) -> None:
        self.git("clone", "--quiet", "--branch", MAIN_BRANCH, self.url, str(self.path),
                 cwd=self.path.parent)  # fmt: skip

    def remote_branch(self, branch: str) -> str | None:
        """The branch's commit on the remote (fetched), or None if it does not exist."""
        if not self.git("ls-remote", "--heads", "origin", branch):
            return None
        self.git("fetch", "--quiet", "--force", "origin",
                 f"refs/heads/{branch}:refs/remotes/origin/{branch}")  # fmt: skip
        return self.git("rev-parse", f"origin/{branch}")

    def commit(self, message: str) -> bool:
        """Commit everything (conflict markers and *.rej files too); False if nothing changed."""
        self.git("add", "--all")
        if not self.git("status", "--porcelain"):
            return False
        self.git("commit", "--quiet", "-m", message)
        return True

    def push(self, branch: str, seen: str | None) -> bool:
        """Force-push HEAD to `branch` unless it holds the same tree already (False then);
        only if the branch is still at `seen` (None: absent), else an error says so."""
        tree = self.git("rev-parse", "HEAD^{tree}")
        if seen is not None and self.git("rev-parse", seen + "^{tree}") == tree:
            return False
        lease = f"--force-with-lease=refs/heads/{branch}:{seen or ''}"
        self.git("push", "--quiet", lease, "origin", f"HEAD:refs/heads/{branch}")
        return True


def propose_update(
    checkout: Checkout, requests: GitHubPulls | GitLabMerges, cruft: str
) -> dict[str, str]:
    """Clone, branch from main, apply the newest version, push, open or update the request."""
    checkout.clone()
    status = template_update.check(checkout.path)
    branch = template_update.BRANCH
    existing = requests.find_open(branch, MAIN_BRANCH)
    if not status.behind:
        reason = f"the template is current ({status.current})"
        if existing is None:
            return {"action": "none", "reason": reason}
        return {"action": "closed", "url": requests.close(existing.number).url, "reason": reason}
    seen = checkout.remote_branch(branch)
    checkout.git("checkout", "--quiet", "-B", branch, f"origin/{MAIN_BRANCH}")
    found = template_update.apply(checkout.path, status.tag, cruft)
    changes = template_update.changelog(status.template, status.tag, status.current,
                                        status.latest)  # fmt: skip
    title, body = template_update.title(status), template_update.body(status, changes, found)
    report = {"from": status.current, "to": status.latest, "conflicts": ",".join(found)}
    if not checkout.commit(title):
        reason = "the update changes nothing"
        if existing is None:
            return {"action": "none", "reason": reason, **report}
        return {"action": "closed", "url": requests.close(existing.number).url, **report}
    pushed = checkout.push(branch, seen)
    if existing is None:
        created = requests.create(branch, MAIN_BRANCH, title, body)
        return {"action": "created", "url": created.url, "number": str(created.number), **report}
    if (existing.title, existing.body) == (title, body):
        return {"action": "unchanged", "url": existing.url, "pushed": str(pushed).lower(),
                **report}  # fmt: skip
    updated = requests.update(existing.number, title, body)
    return {"action": "updated", "url": updated.url, "number": str(updated.number), **report}
