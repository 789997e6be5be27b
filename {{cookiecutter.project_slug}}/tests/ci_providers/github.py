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


# A reference by commit, with its release in the comment (how every action is pinned here).
PINNED = r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+(\.\d+)*$"


def unpinned(text: str) -> str:
    """The workflow with its first action referenced by a tag, as it used to be."""
    import re

    return re.sub(r"(uses: [\w.-]+/[\w./-]+)@[0-9a-f]{40}  # (v\d+)", r"\1@\2", text, count=1)


def pin_findings(scanners, root) -> list[str]:
    """What the pin check says of the workflows under `root` (zizmor)."""
    from {{ cookiecutter.package_name }}.delivery import scan

    return scan.zizmor(scanners, root / ".github" / "workflows")
