"""The platform sub-template: each provider bakes cleanly, bad answers fail, and the platform
provides exactly the addresses, names and schemas the model repos expect."""

from __future__ import annotations

import json
import py_compile
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException

from .baking import DEFAULTS, PLATFORM, ROOT, bake, bake_platform
from .validators import actionlint, check_jsonschema

MODEL_TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"
BIN = Path(sys.executable).parent
# Files that legitimately keep Go-template braces: GitHub expressions, the ApplicationSet,
# External Secrets templates.
GO_TEMPLATE_FILES = {
    ".github/workflows/platform.yml", ".github/workflows/trust.yml", "apps/models.yaml",
    "apps/model-kafka.yaml",
    "infrastructure/secrets/databases.yaml", "infrastructure/secrets/object-storage.yaml",
    "values/prefect-worker.yaml",  # Prefect's job-template placeholders
    "infrastructure/policies/model-images.yaml",  # Kyverno's expressions
}  # fmt: skip
CI_FILES = {"github": ".github/workflows/platform.yml", "gitlab": ".gitlab-ci.yml"}


VARIANTS = [("github", "seldon-core"), ("gitlab", "kserve"), ("github", "seldon-core+kserve")]


@pytest.fixture(scope="module", params=[
    pytest.param(v, id="-".join(v), marks=pytest.mark.xdist_group("platform-" + "-".join(v)))
    for v in VARIANTS
])  # fmt: skip
def platform(request, tmp_path_factory) -> tuple[str, Path]:
    provider, runtimes = request.param
    root = bake_platform(tmp_path_factory.mktemp("platform"), ci_provider=provider,
                         serving_runtimes=runtimes)  # fmt: skip
    return provider, root


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_only_the_chosen_provider_ci_file_is_generated(platform):
    provider, root = platform
    generated = files(root)
    assert CI_FILES[provider] in generated
    assert not [f for f in generated if f in CI_FILES.values() and f != CI_FILES[provider]]
    assert not [f for f in generated if "__pycache__" in f]
    record = json.loads((root / ".cruft.json").read_text())
    assert record["directory"] == "platform"
    assert record["context"]["cookiecutter"]["ci_provider"] == provider


def test_no_template_syntax_is_left_and_every_file_parses(platform):
    _, root = platform
    for relative in sorted(files(root)):
        path = root / relative
        text = path.read_text()
        if relative not in GO_TEMPLATE_FILES:
            assert "{{" not in text and "{%" not in text, relative
        if path.suffix in (".yaml", ".yml"):
            list(yaml.safe_load_all(text))
        elif path.suffix == ".json":
            json.loads(text)
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".py":
            py_compile.compile(str(path), doraise=True, cfile=str(path) + "c.tmp")
            Path(str(path) + "c.tmp").unlink()


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def test_python_is_lint_clean_and_formatted(platform):
    _, root = platform
    for command in (["check", "."], ["format", "--check", "."]):
        result = run(str(BIN / "ruff"), *command, cwd=root)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_ci_file_passes_its_provider_schema(platform):
    provider, root = platform
    schema = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}[provider]
    code, output = check_jsonschema(schema, root / CI_FILES[provider])
    assert code == 0, output
    if provider == "github":
        code, output = actionlint(root / CI_FILES[provider])
        assert code == 0, output


def test_the_platform_serves_the_addresses_model_repos_default_to(platform):
    """MLflow, Kafka and Prefect live where a default model repo looks for them."""
    _, root = platform
    mlflow = yaml.safe_load((root / "apps" / "mlflow.yaml").read_text())
    values = yaml.safe_load((root / "values" / "mlflow.yaml").read_text())
    service = mlflow["spec"]["sources"][0]["helm"]["releaseName"]
    namespace = mlflow["spec"]["destination"]["namespace"]
    assert DEFAULTS["mlflow_tracking_uri"] == f"http://{service}.{namespace}.svc.cluster.local:5000"
    assert values["artifactRoot"]["proxiedArtifactStorage"] is True  # models need no S3 key

    manifests = (root / "infrastructure" / "kafka" / "kafka.yaml").read_text()
    kafka = {d["kind"]: d for d in yaml.safe_load_all(manifests)}
    cluster, listener = kafka["Kafka"]["metadata"], kafka["Kafka"]["spec"]["kafka"]["listeners"][0]
    assert DEFAULTS["kafka_bootstrap_servers"] == (
        f"{cluster['name']}-kafka-bootstrap.{cluster['namespace']}.svc.cluster.local:"
        f"{listener['port']}"
    )

    prefect = yaml.safe_load((root / "apps" / "prefect-server.yaml").read_text())
    release = prefect["spec"]["sources"][0]["helm"]["releaseName"]
    namespace = prefect["spec"]["destination"]["namespace"]
    assert DEFAULTS["prefect_api_url"] == f"http://{release}.{namespace}.svc.cluster.local:4200/api"
    worker = yaml.safe_load((root / "values" / "prefect-worker.yaml").read_text())["worker"]
    assert worker["selfHostedServerApiConfig"]["apiUrl"] == DEFAULTS["prefect_api_url"]
    prefect_yaml = (MODEL_TEMPLATE / "prefect.yaml").read_text()
    assert f"name: {worker['config']['workPool']}\n" in prefect_yaml
    # Server and worker run the Prefect the model repos' flows are locked to, at the keys the
    # prefect-helm charts read (the server's tag under `global`, the worker's credentials
    # under its server's API config), with the one Secret the server checks.
    lock = (MODEL_TEMPLATE / "requirements.lock").read_text()
    version = re.search(r"^prefect==([0-9.]+) ", lock, re.MULTILINE).group(1)
    server = yaml.safe_load((root / "values" / "prefect-server.yaml").read_text())
    assert server["global"]["prefect"]["image"]["prefectTag"] == f"{version}-python3.12"
    assert "image" not in server["server"]
    assert worker["image"]["prefectTag"] == f"{version}-python3.12-kubernetes"
    assert "basicAuth" not in worker
    credentials = worker["selfHostedServerApiConfig"]["basicAuth"]
    assert credentials == {"enabled": True, "existingSecret": server["server"]["basicAuth"][
        "existingSecret"]}  # fmt: skip


def test_defaults_of_both_templates_agree(platform):
    provider, root = platform
    answers = json.loads((root / ".cruft.json").read_text())["context"]["cookiecutter"]
    model_repo = bake(root.parent / "model", ci_provider=provider)
    record = json.loads((model_repo / ".cruft.json").read_text())["context"]["cookiecutter"]
    assert answers["repo_url"] == record["platform_repo_url"]
    assert answers["models_namespace"] == DEFAULTS["kubernetes_namespace"]


def test_model_resource_schemas_are_the_model_repos_own(platform):
    """The platform validates overlays with the same strict schemas the model repo tests with."""
    _, root = platform
    tests = MODEL_TEMPLATE / "tests"
    model_schemas = {path.name: path for path in tests.glob("schemas/*.schema.json")}
    model_schemas |= {path.name: path for path in tests.glob("runtimes/*/*.schema.json")}
    kinds = ["seldondeployment", "inferenceservice", "servicemonitor", "podmonitor",
             "prometheusrule", "alertmanagerconfig", "externalsecret", "kafkatopic",
             "kafkauser"]  # fmt: skip
    for name in (f"{kind}.schema.json" for kind in kinds):
        assert (root / "schemas" / name).read_text() == model_schemas[name].read_text(), name


def test_the_work_pool_runs_a_model_repos_training_deployment(platform, tmp_path):
    """prefect.yaml's Kubernetes job variables are variables of the platform's base job
    template, and the Job they make runs as the model's training account, admitted by Pod
    Security restricted."""
    _, root = platform
    sys.path.insert(0, str(root / "src"))
    try:
        from gitops import contract
    finally:
        sys.path.remove(str(root / "src"))
    model = bake(tmp_path)
    deployments = yaml.safe_load((model / "prefect.yaml").read_text())["deployments"]
    variables = next(d for d in deployments if d["name"] == "kubernetes")["work_pool"][
        "job_variables"
    ]
    values = yaml.safe_load((root / "values" / "prefect-worker.yaml").read_text())
    template = json.loads(values["worker"]["config"]["baseJobTemplate"]["configuration"])
    assert set(variables) <= contract.job_template_variables(template)
    job = contract.render_job_template(template, variables)
    pod = job["spec"]["template"]["spec"]
    assert job["metadata"]["namespace"] == f"{DEFAULTS['kubernetes_namespace']}-staging"
    training = yaml.safe_load((model / "k8s" / "base" / "training.yaml").read_text())
    assert pod["serviceAccountName"] == training["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is False
    assert contract.pod_security(pod, "restricted") == []


def test_the_lock_names_the_repo_it_is_in(tmp_path):
    # uv's `# via` lines name the project a pin comes from: the repo's own name, not the
    # default's (what `make lock` in the repo writes).
    root = bake_platform(tmp_path, platform_slug="risk-platform")
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"] == root.name
    text = (root / "requirements.lock").read_text()
    assert set(re.findall(r"#\s+(?:via )?(\S+) \(pyproject\.toml\)", text)) == {root.name}


def test_the_cluster_contract_is_the_model_repos_own(platform):
    """`gitops validate` and the model repos' tests check the cluster with the same code."""
    _, root = platform
    model = MODEL_TEMPLATE / "src" / "{{cookiecutter.package_name}}" / "delivery" / "contract.py"
    assert (root / "src" / "gitops" / "contract.py").read_text() == model.read_text()


def test_template_updates_are_the_model_repos_own(platform):
    """Both kinds of repo check and apply the template's versions with the same code."""
    _, root = platform
    model = MODEL_TEMPLATE / "src" / "{{cookiecutter.package_name}}" / "template_update.py"
    assert (root / "src" / "gitops" / "template_update.py").read_text() == model.read_text()


INVALID_ANSWERS = [
    ("platform_slug", "My Platform", "lowercase letters"),
    ("repo_url", "http://github.com/acme/p.git", "https://"),
    ("repo_url", "https://user:pw@github.com/acme/p.git", "credentials"),
    ("repo_url", "https://github.com", "name a repository"),
    ("argocd_namespace", "Argo", "DNS-1123"),
    ("models_namespace", "m" * 53, "at most 52"),
    ("cluster_secret_store", "Platform Secrets", "DNS-1123 subdomain"),
    ("platform_name", "   ", "must not be empty"),
]


@pytest.mark.parametrize(("option", "value", "rule"), INVALID_ANSWERS,
                         ids=[f"{o}={v!r}"[:40] for o, v, _ in INVALID_ANSWERS])  # fmt: skip
def test_bad_platform_answer_is_rejected_and_nothing_is_left(option, value, rule, tmp_path, capfd):
    with pytest.raises(FailedHookException):
        bake_platform(tmp_path, **{option: value})
    err = capfd.readouterr().err
    assert f"ERROR: {option}={value!r}: " in err and rule in err
    assert not any(tmp_path.iterdir()), "a rejected bake leaves nothing on disk"


def test_an_unknown_serving_runtime_is_refused_before_generation(tmp_path):
    with pytest.raises(ValueError, match="serving_runtimes, but the choices are"):
        bake_platform(tmp_path, serving_runtimes="triton")
    assert not any(tmp_path.iterdir())


def test_the_chosen_serving_operators_are_installed_and_model_kinds_allowed(platform):
    """Each runtime's operator (KServe with cert-manager) and only its model kind."""
    _, root = platform
    runtimes = json.loads((root / ".cruft.json").read_text())["context"]["cookiecutter"][
        "serving_runtimes"].split("+")  # fmt: skip
    applications = {
        d["metadata"]["name"]: d
        for path in (root / "apps").glob("*.yaml")
        for d in yaml.safe_load_all(path.read_text())
        if d and d["kind"] == "Application"
    }
    listed = yaml.safe_load((root / "apps" / "kustomization.yaml").read_text())["resources"]
    assert all((root / "apps" / name).exists() for name in listed)
    operators = {
        "seldon-core": {"seldon-core"},
        "kserve": {"cert-manager", "kserve-crd", "kserve", "envoy-gateway", "gateway"},
    }
    for runtime, names in operators.items():
        assert (names <= set(applications)) == (runtime in runtimes), runtime
    if "kserve" in runtimes:
        values = yaml.safe_load((root / "values" / "kserve.yaml").read_text())
        assert values["kserve"]["controller"]["deploymentMode"] == "Standard"
        chart = applications["kserve"]["spec"]["sources"][0]
        assert (chart["repoURL"], chart["chart"]) == ("ghcr.io/kserve/charts", "kserve-resources")
    models = next(d for d in yaml.safe_load_all((root / "apps" / "projects.yaml").read_text())
                  if d["metadata"]["name"] == "models")  # fmt: skip
    allowed = {(r["group"], r["kind"]) for r in models["spec"]["namespaceResourceWhitelist"]}
    model_kinds = {"seldon-core": ("machinelearning.seldon.io", "SeldonDeployment"),
                   "kserve": ("serving.kserve.io", "InferenceService")}  # fmt: skip
    for runtime, kind in model_kinds.items():
        assert (kind in allowed) == (runtime in runtimes), kind


def test_the_platform_template_has_its_own_options():
    options = json.loads((PLATFORM / "cookiecutter.json").read_text())
    assert options["ci_provider"] == ["github", "gitlab"]
