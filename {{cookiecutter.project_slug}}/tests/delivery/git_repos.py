"""Real git repositories for the delivery tests: the platform repo CI pushes to, bare."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def bare_platform_repo(directory: Path) -> str:
    """A bare platform repo with one commit on main, in `directory`; its URL."""
    remote = directory / "platform.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(remote), cwd=directory)
    seed = directory / "seed"
    git("clone", "--quiet", str(remote), str(seed), cwd=directory)
    (seed / "README.md").write_text("platform\n")
    git("add", ".", cwd=seed)
    git("commit", "--quiet", "-m", "start", cwd=seed)
    git("push", "--quiet", "origin", "HEAD:main", cwd=seed)
    return remote.as_uri()


def remote_file(url: str, ref: str, path: str, tmp_path: Path) -> str:
    """A file of the bare repository at `url` (file://) as `ref` holds it."""
    return git("--git-dir", url.removeprefix("file://"), "show", f"{ref}:{path}", cwd=tmp_path)
