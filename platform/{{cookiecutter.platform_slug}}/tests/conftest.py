"""A scratch copy of this platform repo per test, as a git repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .overlays import commit_all, git

REPO = Path(__file__).resolve().parents[1]
NOT_COPIED = shutil.ignore_patterns(".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache")


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    """A copy of this repo (manifests, schemas, values) in its own git repo, one commit."""
    root = tmp_path / "platform"
    shutil.copytree(REPO, root, ignore=NOT_COPIED)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    commit_all(root, "platform")
    return root
