"""What the runtimes' rollout tests share: production runs version 4, staging version 5 (its
image pinned by digest); conftest.py's `platform_dir` is a platform checkout with both."""

from __future__ import annotations

from {{ cookiecutter.package_name }}.delivery import release

STABLE = release.Release("aaaaaaa", "4", {}, "sha256:" + "4" * 64)
CANDIDATE = release.Release("bbbbbbb", "5", {"serve": "sha256:" + "c" * 64}, "sha256:" + "5" * 64)
