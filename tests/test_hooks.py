"""The pre-generation hook rejects every bad answer with one clear line and leaves nothing."""

from __future__ import annotations

import json
import tomllib

import pytest
from cookiecutter.exceptions import FailedHookException

from .baking import bake

# (option, bad value, words the message must contain)
INVALID_ANSWERS = [
    ("project_slug", "my project", "lowercase letters, digits and single hyphens"),
    ("project_slug", "-iris", "start with a letter"),
    ("project_slug", "Iris", "lowercase"),
    ("project_slug", "a" * 64, "at most 63"),
    ("package_name", "class", "Python keyword"),
    ("package_name", "iris-classifier", "Python identifier"),
    ("package_name", "json", "standard-library"),
    ("package_name", "mlflow", "dependency"),
    ("model_name", "Iris", "DNS-1123"),
    ("model_name", "iris_classifier", "DNS-1123"),
    ("model_name", "m" * 64, "at most 45"),
    ("model_name", "iris-", "DNS-1123"),
    ("model_name", "1iris", "start with a letter"),
    ("container_registry", "https://ghcr.io/acme", "URL scheme"),
    ("container_registry", "ghcr.io/acme/", "no trailing slash"),
    ("container_registry", "GHCR.io/Acme", "lowercase"),
    ("author_name", "", "must not be empty"),
    ("author_name", "   ", "must not be empty"),
    ("author_email", "not-an-email", "e-mail address"),
    ("description", "two\nlines", "single line"),
    ("platform_repo_url", "ftp://example.org/platform.git", "http:// or https://"),
    ("platform_repo_url", "https://user:token@github.com/acme/p.git", "credentials"),
    ("kubernetes_namespace", "Models", "DNS-1123"),
    ("kubernetes_namespace", "n" * 53, "at most 52"),
    ("mlflow_tracking_uri", "mlflow:5000", "http:// or https://"),
    ("mlflow_tracking_uri", "http://admin:secret@mlflow:5000", "credentials"),
    ("kafka_bootstrap_servers", "kafka", "host:port"),
    ("kafka_bootstrap_servers", "kafka:9092,kafka:99999", "port from 1 to 65535"),
    ("prefect_api_url", "http://prefect:4200", "must end with /api"),
    ("mlflow_tracking_uri", "https://mlflow.example.org", "in-cluster Service with its port"),
    ("mlflow_tracking_uri", "http://mlflow.mlflow.svc.cluster.local", "with its port"),
    ("prefect_api_url", "http://prefect.local:4200/api", "in-cluster Service"),
    ("kafka_bootstrap_servers", "kafka.example.org:9092", "in-cluster Service"),
    ("kafka_bootstrap_servers", "a.kafka.svc:9092,b.other.svc:9092", "same namespace"),
]


@pytest.mark.parametrize(
    ("option", "value", "rule"),
    INVALID_ANSWERS,
    ids=[f"{o}={v!r}"[:40] for o, v, _ in INVALID_ANSWERS],
)
def test_bad_answer_is_rejected_with_a_clear_message(option, value, rule, tmp_path, capfd):
    with pytest.raises(FailedHookException):
        bake(tmp_path, **{option: value})
    errors = capfd.readouterr().err.splitlines()
    # A bad slug also makes the names derived from it bad: each gets its own line.
    mine = [line for line in errors if line.startswith(f"ERROR: {option}={value!r}: ")]
    assert len(mine) == 1, errors
    assert rule in mine[0]
    assert list(tmp_path.iterdir()) == [], "a rejected bake must leave nothing on disk"


def test_every_problem_is_reported_at_once(tmp_path, capfd):
    with pytest.raises(FailedHookException):
        bake(tmp_path, model_name="Bad_Name", author_email="nope", kubernetes_namespace="X")
    err = capfd.readouterr().err
    for option in ("model_name", "author_email", "kubernetes_namespace"):
        assert f"ERROR: {option}=" in err


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("ci_provider", "jenkins"),
        ("serving_runtime", "knative"),
        ("drift_library", "nannyml"),
        ("task", "ranking"),
    ],
)
def test_unknown_choice_is_rejected_before_generation(tmp_path, option, value):
    with pytest.raises(ValueError, match=f"{option}, but the choices are"):
        bake(tmp_path, **{option: value})
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("runtime", "library"),
    [("kserve", "evidently"), ("seldon-core", "evidently"), ("kserve", "alibi-detect"),
     ("seldon-core-mlserver", "alibi-detect")],
)  # fmt: skip
def test_a_bake_keeps_the_chosen_variants_directories_only(tmp_path, runtime, library):
    root = bake(tmp_path, serving_runtime=runtime, drift_library=library)
    module = runtime.replace("-", "_")
    # A runtime keeps the code it shares with the others that run the same server (MLServer)
    # or on the same operator (a SeldonDeployment), and nothing of the others.
    mlserver = runtime in ("kserve", "seldon-core-mlserver")
    seldon = runtime.startswith("seldon-core")
    shared = {name for name, kept in (("mlserver", mlserver), ("seldon_deployment", seldon))
              if kept}  # fmt: skip
    for tree in ("src/iris_classifier/runtimes", "tests/runtimes"):
        kept = {p.name for p in (root / tree).iterdir() if p.is_dir()}
        assert kept == {module, *shared}, tree
    manifests = {p.name for p in (root / "k8s/base/runtimes").iterdir()}
    assert manifests == {module} | ({"seldon_deployment"} if seldon else set())
    runtimes = root / "src/iris_classifier/runtimes"
    server = runtimes / ("mlserver" if mlserver else module) / "server.py"
    assert ("class MLServerModel(MLModel)" in server.read_text()) == mlserver
    leftovers = [p.name for p in root.rglob("*") if any(
        f".{value}." in p.name for value in ("alibi-detect", "evidently")
    )]  # fmt: skip
    assert leftovers == []
    package = root / "src" / "iris_classifier"
    for libraries in (package / "drift" / "libraries", root / "tests" / "drift" / "libraries"):
        kept = sorted(p.name for p in libraries.iterdir() if p.is_dir())
        assert kept == [library.replace("-", "_")], libraries


def test_non_boolean_for_a_boolean_option_is_rejected(tmp_path):
    # cookiecutter itself refuses a value it cannot read as yes/no
    with pytest.raises((FailedHookException, ValueError)):
        bake(tmp_path, include_drift_detection="perhaps")
    assert not any(tmp_path.iterdir())


FREE_TEXT = {
    "project_name": 'Zoë\'s "Fancy" Iris — Klassifikator',
    "description": 'Prédit l\'espèce; handles "quotes", \\backslashes\\ and {braces}.',
    "author_name": "Ana O'Brien-Núñez",
}


def test_free_text_with_quotes_apostrophes_and_accents_is_safe(tmp_path):
    root = bake(tmp_path, project_slug="fancy-iris", **FREE_TEXT)
    recorded = json.loads((root / ".cruft.json").read_text())["context"]["cookiecutter"]
    for option, value in FREE_TEXT.items():
        assert recorded[option] == value
    readme = (root / "README.md").read_text()
    assert FREE_TEXT["project_name"] in readme and FREE_TEXT["description"] in readme
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["description"] == FREE_TEXT["description"]
    assert project["authors"][0]["name"] == FREE_TEXT["author_name"]
