"""The platform repo over git: clone, commit, and push a branch for a pull/merge request.

A model's CI never pushes to main: it proposes each change on its own branch (`proposal.py`).
A branch push is conditional on what the branch held when this run read it (a lease), so a
run that raced another run of the same model learns it and starts over instead of silently
overwriting the newer change.

The token (PLATFORM_REPO_TOKEN) reaches git only through environment-provided config
(GIT_CONFIG_*), never a URL, an argument or a file, so it cannot appear in a log, a process
list or the clone's .git/config.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..jsonhttp import basic_authorization
from ..settings import MODEL_NAME
from . import DeliveryError
from .review import provider

MAIN_BRANCH = "main"
# What git prints when a lease no longer holds (the branch moved since it was read).
LEASE_BROKEN = ("stale info", "[rejected]", "fetch first")


class RaceLost(DeliveryError):
    """Another run pushed the branch after this run read it: start over from the remote."""


class PlatformRepo:
    def __init__(self, url: str, workdir: Path, token: str | None = None) -> None:
        self.url = url
        self.path = workdir / "platform"
        self._env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        if token:
            user = provider().git_user  # the forge's user name for a token over HTTPS
            header = basic_authorization(f"{user}:{token}")["Authorization"]
            self._env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: {header}",
            }
        self._token = token

    def git(
        self, *args: str, check: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess:
        identity = [
            "-c",
            f"user.name={MODEL_NAME} CI",
            "-c",
            f"user.email={MODEL_NAME}-ci@localhost",
        ]
        result = subprocess.run(
            ["git", *identity, *args],
            cwd=cwd or self.path,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise DeliveryError(f"git {args[0]} failed: {self._redact(result.stderr.strip())}")
        return result

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def clone(self) -> PlatformRepo:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.git(
            "clone",
            "--quiet",
            "--branch",
            MAIN_BRANCH,
            self.url,
            str(self.path),
            cwd=self.path.parent,
        )
        return self

    def commit(self, message: str, paths: list[str]) -> bool:
        """Commit changes under `paths`; False (no commit) when there are none."""
        self.git("add", "--all", "--", *paths)
        if self.git("diff", "--cached", "--quiet", check=False).returncode == 0:
            return False
        self.git("commit", "--quiet", "-m", message)
        return True

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def remote_branch(self, branch: str) -> str | None:
        """Fetch `origin/<branch>`; its commit id, or None if the branch does not exist."""
        result = self.git("ls-remote", "--heads", "origin", branch, check=False)
        if not result.stdout.strip():
            return None
        self.git("fetch", "--quiet", "--force", "origin",
                 f"refs/heads/{branch}:refs/remotes/origin/{branch}")  # fmt: skip
        return self.git("rev-parse", f"origin/{branch}").stdout.strip()

    def refresh_main(self) -> None:
        """Fetch main again (another change may have landed since the clone)."""
        self.git("fetch", "--quiet", "--force", "origin",
                 f"refs/heads/{MAIN_BRANCH}:refs/remotes/origin/{MAIN_BRANCH}")  # fmt: skip

    def push_branch(self, branch: str, seen: str | None) -> bool:
        """Force-push HEAD to `branch` unless it already holds the same tree; False then.

        `seen` is the branch's commit when this run read it (`remote_branch`; None: absent).
        The push holds only if the branch is still there: otherwise RaceLost, and nothing
        was overwritten.
        """
        tree = self.git("rev-parse", "HEAD^{tree}").stdout.strip()
        if seen is not None and self.git("rev-parse", seen + "^{tree}").stdout.strip() == tree:
            return False
        lease = f"--force-with-lease=refs/heads/{branch}:{seen or ''}"
        result = self.git("push", "--quiet", lease, "origin", f"HEAD:refs/heads/{branch}",
                          check=False)  # fmt: skip
        if result.returncode == 0:
            return True
        stderr = self._redact(result.stderr.strip())
        if any(marker in stderr for marker in LEASE_BROKEN):
            raise RaceLost(f"branch {branch} moved while this run wrote it: {stderr}")
        raise DeliveryError(f"git push to {branch} failed: {stderr}")
