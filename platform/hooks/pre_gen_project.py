"""Validate every answer for the platform repo before anything is generated.

The answers arrive as JSON data (never pasted into code). Every bad answer prints one line
(option, value, rule) and the hook exits 1; cookiecutter then removes the half-created output.
"""

from __future__ import annotations

import json
import re
import sys
from urllib.parse import urlsplit

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SSH_GIT_URL = re.compile(r"^git@[A-Za-z0-9.-]+:[A-Za-z0-9._/-]+\.git$")
CI_PROVIDERS = ("github", "gitlab")
SERVING_RUNTIMES = ("seldon-core", "kserve", "seldon-core+kserve")
# The longest environment suffix the ApplicationSet appends to the models namespace.
LONGEST_ENVIRONMENT_SUFFIX = len("-production")


def check_platform_name(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must not be empty"
    if "\n" in value or "\r" in value:
        return "must be a single line"
    return "must be at most 100 characters" if len(value) > 100 else None


def check_platform_slug(value: object) -> str | None:
    if not isinstance(value, str) or not SLUG.match(value) or len(value) > 63:
        return (
            "must be lowercase letters, digits and single hyphens, start with a letter, "
            "at most 63 characters (e.g. mlops-platform)"
        )
    return None


def check_repo_url(value: object) -> str | None:
    if isinstance(value, str) and SSH_GIT_URL.match(value):
        return None
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return "must be an https:// URL or a git@host:path.git address, without spaces"
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        return "must be an https:// URL or a git@host:path.git address"
    if parts.username or parts.password:
        return "must not contain credentials (Argo CD and CI get them from their secrets)"
    if parts.query or parts.fragment:
        return "must not contain a query string or fragment"
    if parts.path.strip("/").count("/") < 1:
        return "must name a repository (e.g. https://github.com/acme/mlops-platform.git)"
    return None


def check_namespace(value: object, *, max_length: int = 63) -> str | None:
    if not isinstance(value, str) or not DNS1123_LABEL.match(value) or len(value) > max_length:
        return f"must be a DNS-1123 label of at most {max_length} characters"
    return None


def check_models_namespace(value: object) -> str | None:
    problem = check_namespace(value, max_length=63 - LONGEST_ENVIRONMENT_SUFFIX)
    return f"{problem} (the environments append -staging and -production)" if problem else None


def check_cluster_secret_store(value: object) -> str | None:
    if not isinstance(value, str) or not DNS1123_SUBDOMAIN.match(value) or len(value) > 253:
        return "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')"
    return None


def validate(answers: dict) -> list[str]:
    """One message per bad answer: option, value and the rule it breaks."""
    checks = {
        "platform_name": check_platform_name,
        "platform_slug": check_platform_slug,
        "repo_url": check_repo_url,
        "argocd_namespace": check_namespace,
        "models_namespace": check_models_namespace,
        "cluster_secret_store": check_cluster_secret_store,
    }
    problems = []
    for option, check in checks.items():
        value = answers.get(option)
        rule = check(value)
        if rule:
            problems.append(f"{option}={value!r}: {rule}")
    if answers.get("ci_provider") not in CI_PROVIDERS:
        value = answers.get("ci_provider")
        problems.append(f"ci_provider={value!r}: must be one of {', '.join(CI_PROVIDERS)}")
    if answers.get("serving_runtimes") not in SERVING_RUNTIMES:
        value = answers.get("serving_runtimes")
        problems.append(f"serving_runtimes={value!r}: must be one of {', '.join(SERVING_RUNTIMES)}")
    return problems


def main() -> int:
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    problems = validate(answers)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
