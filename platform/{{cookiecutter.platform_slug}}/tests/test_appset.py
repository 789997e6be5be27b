"""The ApplicationSet emulation: Go path.Match per segment, dot-directories, exclusions."""

from __future__ import annotations

import fnmatch

import pytest
import yaml

from gitops import PlatformError, appset
from gitops.settings import IN_CLUSTER, REPO_URL

from .overlays import write_overlay

GO_PATH_MATCH = [
    # (pattern, path, Go's path.Match answer)
    ("models/*/*", "models/iris/staging", True),
    ("models/*/*", "models/iris/staging/base", False),  # '*' never crosses '/'
    ("models/*", "models/iris/staging", False),
    ("models/*/staging", "models/iris/production", False),
    ("models/*/staging", "models//staging", True),  # '*' matches the empty segment
    ("models/?ris/*", "models/iris/staging", True),
    ("models/?/*", "models/ab/staging", False),
    ("models/[a-h]*/*", "models/iris/staging", False),
    ("models/[a-i]*/*", "models/iris/staging", True),
    ("models/[^i]*/*", "models/iris/staging", False),
    ("models/[^i]*/*", "models/wine/staging", True),
    ("models/\\*/*", "models/*/staging", True),
    ("models/\\*/*", "models/iris/staging", False),
    ("models/_*/*", "models/_parked/staging", True),
    ("models/*a*b*/x", "models/zaxxbq/x", True),
    ("models/*a*b/x", "models/zaxxbq/x", False),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), GO_PATH_MATCH)
def test_path_match_follows_go(pattern, path, expected):
    assert appset.path_match(pattern, path) is expected


def test_fnmatch_would_be_wrong_here():
    # The reason for the emulation: Python's fnmatch lets '*' cross '/'.
    assert fnmatch.fnmatchcase("models/iris/staging/base", "models/*/*")
    assert not appset.path_match("models/*/*", "models/iris/staging/base")


@pytest.mark.parametrize("pattern", ["models/[", "models/[]/x", "models/x\\", "models/[a-]/x"])
def test_malformed_patterns_are_errors_like_in_go(pattern):
    with pytest.raises(appset.PatternError):
        appset.path_match(pattern, "models/a/x")


def test_dot_directories_and_everything_below_them_are_skipped(tmp_path):
    for directory in ["models/iris/staging", ".git/objects", "models/.hidden/staging"]:
        (tmp_path / directory).mkdir(parents=True)
    directories = appset.repo_directories(tmp_path)
    assert "models/iris/staging" in directories
    assert not [d for d in directories if "/." in f"/{d}"]


def test_exclusions_win_whatever_their_order():
    patterns = [
        {"path": "models/_*/*", "exclude": True},
        {"path": "models/*/staging"},
    ]
    directories = ["models/iris/staging", "models/_old/staging", "models/iris/qa"]
    assert appset.matching_directories(directories, patterns) == ["models/iris/staging"]
    assert appset.matching_directories(directories, list(reversed(patterns))) == [
        "models/iris/staging"
    ]


def models_application_set(platform) -> dict:
    return yaml.safe_load((platform / "apps" / "models.yaml").read_text())


def test_each_model_environment_is_exactly_one_application(platform):
    write_overlay(platform, "iris", "staging", "3")
    write_overlay(platform, "iris", "production", "2")
    write_overlay(platform, "wine", "staging", "1")
    write_overlay(platform, "_retired", "production", "9")  # parked: excluded
    write_overlay(platform, "iris", "qa", "1")  # not an environment of this platform
    (platform / "models" / ".scratch" / "staging").mkdir(parents=True)

    applications = appset.generate(models_application_set(platform), platform)

    by_name = {a["metadata"]["name"]: a for a in applications}
    assert sorted(by_name) == ["iris-production", "iris-staging", "wine-staging"]
    iris = by_name["iris-production"]
    assert iris["kind"] == "Application"
    assert iris["metadata"]["namespace"] == "{{ cookiecutter.argocd_namespace }}"
    assert iris["metadata"]["labels"] == {"mlops/model": "iris", "mlops/environment": "production"}
    assert iris["spec"]["project"] == "models"
    assert iris["spec"]["source"] == {
        "repoURL": REPO_URL,
        "targetRevision": "main",
        "path": "models/iris/production",
        "kustomize": {"namespace": "{{ cookiecutter.models_namespace }}-production"},
    }
    assert iris["spec"]["destination"] == {
        "server": IN_CLUSTER,
        "namespace": "{{ cookiecutter.models_namespace }}-production",
    }


def test_an_expression_the_emulation_does_not_know_is_an_error_not_a_guess(platform):
    write_overlay(platform, "iris", "staging", "1")
    application_set = models_application_set(platform)
    # (braces built up so the template engine that generated this repo leaves them alone)
    unknown = "{" * 2 + " .path.segments | join " + "}" * 2
    application_set["spec"]["template"]["metadata"]["name"] = unknown
    with pytest.raises(PlatformError, match="not one this emulation evaluates"):
        appset.generate(application_set, platform)
