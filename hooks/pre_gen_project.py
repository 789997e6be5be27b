"""Validate every answer before anything is generated.

Cookiecutter runs this after rendering it; the answers arrive as JSON data (never pasted into
code), so quotes, apostrophes and accents in free text cannot break it. On any bad answer it
prints one line per problem (option, value, rule) and exits 1; cookiecutter then removes the
half-created output directory.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

# Longest suffix our manifests add to the model name (e.g. "<model>-drift-service"); Kubernetes
# object names that Seldon derives from it must stay within 63 characters.
MAX_MODEL_NAME_LENGTH = 45

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# host[:port]/path, lowercase, as a container image reference prefix (no tag, no scheme).
REGISTRY = re.compile(r"^[a-z0-9]+([.-][a-z0-9]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
SSH_GIT_URL = re.compile(r"^git@[A-Za-z0-9.-]+:[A-Za-z0-9._/-]+\.git$")
HOST_PORT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[0-9]{1,5}$")
# A Kubernetes Service's cluster address with its port: the model's NetworkPolicy allows egress
# to exactly that namespace and port. (A StatefulSet pod's own address has one more label.)
IN_CLUSTER = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.){1,2}(?P<namespace>[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
    r"\.svc(\.cluster\.local)?:(?P<port>[0-9]{1,5})$"
)
IN_CLUSTER_RULE = "<service>.<namespace>.svc.cluster.local:<port>"
# Choice and yes/no options, their values and the files each value brings, are described
# once: `_options` in cookiecutter.json (see CONTRIBUTING.md). A yes/no option's values are
# "true" and "false".
BOOLEAN_VALUES = {"true", "false"}
# Package names that would shadow a dependency the generated repo imports.
SHADOWED_PACKAGES = {
    "mlflow", "prefect", "seldon_core", "sklearn", "numpy", "pandas", "kafka", "alibi_detect",
    "prometheus_client", "tests", "test", "src", "mlserver", "evidently", "scipy",
}  # fmt: skip


def _text(value: object, *, max_length: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must not be empty"
    if "\n" in value or "\r" in value:
        return "must be a single line"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    return None


def check_project_name(value: object) -> str | None:
    return _text(value, max_length=100)


def check_description(value: object) -> str | None:
    return _text(value, max_length=300)


def check_author_name(value: object) -> str | None:
    return _text(value, max_length=100)


def check_author_email(value: object) -> str | None:
    if not isinstance(value, str) or not EMAIL.match(value):
        return "must be an e-mail address like name@example.com"
    return None


def check_project_slug(value: object) -> str | None:
    if not isinstance(value, str) or not SLUG.match(value) or len(value) > 63:
        return (
            "must be lowercase letters, digits and single hyphens, start with a letter, "
            "at most 63 characters (e.g. iris-classifier)"
        )
    return None


def check_package_name(value: object) -> str | None:
    if not isinstance(value, str) or not PACKAGE.match(value):
        return (
            "must be a lowercase Python identifier: letters, digits, underscores, "
            "starting with a letter"
        )
    if len(value) > 40:
        return "must be at most 40 characters"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "must not be a Python keyword"
    if value in sys.stdlib_module_names or value in SHADOWED_PACKAGES:
        return "must not shadow a standard-library module or a dependency"
    return None


def check_model_name(value: object) -> str | None:
    if not isinstance(value, str) or not DNS1123_LABEL.match(value):
        return (
            "must be a DNS-1123 label: lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    if len(value) > MAX_MODEL_NAME_LENGTH:
        return (
            f"must be at most {MAX_MODEL_NAME_LENGTH} characters so the Kubernetes names "
            "derived from it stay within 63"
        )
    if not value[0].isalpha():
        return "must start with a letter (Kubernetes Service names derived from it must)"
    return None


def check_kubernetes_namespace(value: object) -> str | None:
    # The platform repo deploys each environment into "<namespace>-<environment>".
    if not isinstance(value, str) or not DNS1123_LABEL.match(value) or len(value) > 52:
        return (
            "must be a DNS-1123 label of at most 52 characters (e.g. models): the platform "
            "appends -staging and -production"
        )
    return None


def check_container_registry(value: object) -> str | None:
    if isinstance(value, str) and "://" in value:
        return "must not contain a URL scheme: write ghcr.io/acme, not https://ghcr.io/acme"
    if isinstance(value, str) and "@" in value:
        return "must not contain credentials"
    if not isinstance(value, str) or not REGISTRY.match(value):
        return (
            "must be a lowercase registry host with an optional port and path, "
            "no trailing slash or tag (e.g. ghcr.io/acme)"
        )
    return None


def _http_url(value: object, *, path_suffix: str | None = None) -> str | None:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return "must be an http:// or https:// URL without spaces"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return "must not contain credentials (they belong in a Kubernetes Secret)"
    if parts.query or parts.fragment:
        return "must not contain a query string or fragment"
    if path_suffix and not parts.path.rstrip("/").endswith(path_suffix):
        return f"must end with {path_suffix} (the API root)"
    return None


def check_platform_repo_url(value: object) -> str | None:
    if isinstance(value, str) and SSH_GIT_URL.match(value):
        return None
    problem = _http_url(value)
    if problem:
        return problem.replace("URL", "URL or a git@host:path.git address", 1)
    if not value.rstrip("/").endswith(".git") and value.count("/") < 4:
        return "must name a repository (e.g. https://github.com/acme/mlops-platform.git)"
    return None


def _in_cluster_url(value: object, *, path_suffix: str | None = None) -> str | None:
    problem = _http_url(value, path_suffix=path_suffix)
    if problem:
        return problem
    if not IN_CLUSTER.match(urlsplit(value).netloc):
        return (
            f"must name an in-cluster Service with its port ({urlsplit(value).scheme}://"
            f"{IN_CLUSTER_RULE}): the model's NetworkPolicy allows that namespace and port"
        )
    return None


def check_mlflow_tracking_uri(value: object) -> str | None:
    return _in_cluster_url(value)


def check_prefect_api_url(value: object) -> str | None:
    return _in_cluster_url(value, path_suffix="/api")


def check_kafka_bootstrap_servers(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be one or more host:port, comma-separated"
    for server in value.split(","):
        if not HOST_PORT.match(server) or not 0 < int(server.rsplit(":", 1)[1]) < 65536:
            return f"{server!r} is not host:port with a port from 1 to 65535"
    namespaces = set()
    for server in value.split(","):
        match = IN_CLUSTER.match(server)
        if not match:
            return (f"{server!r} must name an in-cluster Service with its port "
                    f"({IN_CLUSTER_RULE}): the model's NetworkPolicy allows that namespace "
                    "and port")  # fmt: skip
        namespaces.add((match["namespace"], match["port"]))
    if len(namespaces) > 1:
        return "every server must be in the same namespace and on the same port"
    return None


CHECKS: dict[str, Callable[[object], str | None]] = {
    "project_name": check_project_name,
    "project_slug": check_project_slug,
    "package_name": check_package_name,
    "model_name": check_model_name,
    "description": check_description,
    "author_name": check_author_name,
    "author_email": check_author_email,
    "container_registry": check_container_registry,
    "platform_repo_url": check_platform_repo_url,
    "kubernetes_namespace": check_kubernetes_namespace,
    "mlflow_tracking_uri": check_mlflow_tracking_uri,
    "kafka_bootstrap_servers": check_kafka_bootstrap_servers,
    "prefect_api_url": check_prefect_api_url,
}


def validate(answers: dict) -> list[str]:
    """Return one message per bad answer: option, value and the rule it breaks."""
    problems = []
    for option, check in CHECKS.items():
        value = answers.get(option)
        rule = check(value)
        if rule:
            problems.append(f"{option}={value!r}: {rule}")
    for option, values in answers["_options"].items():
        value = answers.get(option)
        if set(values) == BOOLEAN_VALUES:
            if not isinstance(value, bool):
                problems.append(f"{option}={value!r}: must be true or false")
        elif value not in values:
            problems.append(f"{option}={value!r}: must be one of {', '.join(values)}")
    return problems


def main() -> int:
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    problems = validate(answers)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
