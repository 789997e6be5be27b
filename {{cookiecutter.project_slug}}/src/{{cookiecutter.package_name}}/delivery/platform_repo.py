"""The platform repo over git: clone, commit, push; a push that lost a race is rebased.

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
PUSH_ATTEMPTS = 5
REJECTED = ("[rejected]", "non-fast-forward", "fetch first", "failed to push some refs")


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

    def push_main(self) -> None:
        """Push main; if someone pushed first, rebase on theirs and try again."""
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            result = self.git("push", "--quiet", "origin", f"HEAD:{MAIN_BRANCH}", check=False)
            if result.returncode == 0:
                return
            if not any(marker in result.stderr for marker in REJECTED) or attempt == PUSH_ATTEMPTS:
                raise DeliveryError(
                    f"git push failed after {attempt} attempt(s): "
                    f"{self._redact(result.stderr.strip())}"
                )
            self.git("pull", "--quiet", "--rebase", "origin", MAIN_BRANCH)

    def remote_tree(self, branch: str) -> str | None:
        """The tree id of `origin/<branch>`, or None if the branch does not exist."""
        result = self.git("ls-remote", "--heads", "origin", branch, check=False)
        if not result.stdout.strip():
            return None
        self.git("fetch", "--quiet", "origin", f"{branch}:refs/remotes/origin/{branch}")
        return self.git("rev-parse", f"origin/{branch}" + "^{tree}").stdout.strip()

    def push_branch(self, branch: str) -> bool:
        """Force-push HEAD to `branch` unless it already holds the same tree."""
        tree = self.git("rev-parse", "HEAD^{tree}").stdout.strip()
        if self.remote_tree(branch) == tree:
            return False
        self.git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}")
        return True
