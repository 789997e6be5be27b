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


# An image by digest (how every job's image is pinned here).
PINNED = r"image: \S+@sha256:[0-9a-f]{64}$"


def unpinned(text: str) -> str:
    """The pipeline with its first job image referenced by a tag, as it used to be."""
    import re

    return re.sub(r"(image: \S+)@sha256:[0-9a-f]{64}", r"\1", text, count=1)


def pin_findings(scanners, root) -> list[str]:
    """What the pin check says of the pipeline under `root`."""
    from {{ cookiecutter.package_name }}.delivery import scan

    return scan.gitlab_images(root / CI_FILE)
