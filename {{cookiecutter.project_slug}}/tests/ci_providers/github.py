"""GitHub Actions: the workflow file, its schema, its shell lines and actionlint."""

from __future__ import annotations

from typing import Any

CI_FILE = ".github/workflows/ci.yml"
SCHEMA = "vendor.github-workflows"
LINTER = ("actionlint", "-no-color", CI_FILE)


def commands(document: dict[str, Any]) -> list[str]:
    """Every `run:` of every job's steps."""
    return [step["run"] for job in document["jobs"].values() for step in job["steps"]
            if "run" in step]  # fmt: skip
