"""Slow tier: install a baked repo from scratch and run its own lint and test targets."""

from __future__ import annotations

import os
import subprocess

import pytest

from .baking import bake

pytestmark = pytest.mark.slow


def make(root, target: str, timeout: float) -> None:
    result = subprocess.run(
        ["make", target], cwd=root, capture_output=True, text=True, timeout=timeout,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )  # fmt: skip
    assert result.returncode == 0, (
        f"make {target} failed:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    )


@pytest.mark.parametrize("hyperparameter_tuning", [True], ids=["tuning"])
def test_baked_repo_installs_lints_and_passes_its_own_tests(tmp_path, hyperparameter_tuning):
    root = bake(tmp_path, hyperparameter_tuning=hyperparameter_tuning)
    make(root, "install", timeout=900)
    make(root, "lint", timeout=300)
    make(root, "test", timeout=1200)
    # the formatter over the fresh bake changed nothing and the tests left no stray state
    assert not (root / ".mlops").exists(), "tests must use their own registry, not the repo's"
