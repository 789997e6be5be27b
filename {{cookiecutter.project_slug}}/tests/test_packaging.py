"""The serving image definition: lint-clean, non-root, only the serving dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", "Dockerfile"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_the_wrapper_as_a_non_root_user_with_serving_deps_only():
    text = (REPO / "Dockerfile").read_text()
    assert "FROM python:3.12-slim" in text
    assert "USER 10001" in text
    assert '".[serve]"' in text and "-c requirements.lock" in text
    assert 'ENTRYPOINT ["{{ cookiecutter.project_slug }}", "serve"]' in text
