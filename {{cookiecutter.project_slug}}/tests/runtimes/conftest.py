"""Fixtures of the runtimes' tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.delivery import overlay

from .rollouts import CANDIDATE, STABLE


@pytest.fixture
def platform_dir(tmp_path: Path) -> Path:
    """A platform checkout: production runs version 4, staging version 5."""
    root = tmp_path / "checkout"
    overlay.render(root, "production", STABLE)
    overlay.render(root, "staging", CANDIDATE)
    return root
