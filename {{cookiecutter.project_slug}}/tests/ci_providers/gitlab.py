"""GitLab CI: the pipeline file, its schema and its shell lines (the schema is the check)."""

from __future__ import annotations

from typing import Any

CI_FILE = ".gitlab-ci.yml"
SCHEMA = "vendor.gitlab-ci"
LINTER = None


def commands(document: dict[str, Any]) -> list[str]:
    """Every line of every job's `before_script` and `script`."""
    lines: list[str] = []
    for job in document.values():
        if isinstance(job, dict):
            for key in ("before_script", "script"):
                lines += job.get(key, [])
    return lines
