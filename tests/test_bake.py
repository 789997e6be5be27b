"""Every valid combination bakes into a clean repo: exact files, no Jinja left, lint-clean."""

from __future__ import annotations

import json
import py_compile
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from .baking import DEFAULTS, OPTIONS, ROOT, bake
from .validators import actionlint, check_jsonschema

# libyaml's safe loader where PyYAML was built with it: the same documents, ten times faster.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Files that legitimately contain `{{`: CI expressions and Prefect's own templating.
# (grafana.py and its dashboard.json: Grafana's legend templates such as {{feature}}.)
JINJA_ALLOWED = {
    ".github/workflows/ci.yml",
    ".gitlab-ci.yml",
    "prefect.yaml",
    "src/{pkg}/monitoring/grafana.py",
    "k8s/base/monitoring/dashboard.json",
    # A small cookiecutter template of its own (two versions to update between).
    "tests/delivery/test_template_update.py",
    # The template's record: every answer, cookiecutter.json's unrendered private values too.
    ".cruft.json",
}

# Files the post-generation hook writes (no template file of that name exists).
GENERATED_FILES = {
    ".cruft.json", "k8s/base/monitoring/dashboard.json", "k8s/base/monitoring/grafana-alerts.json",
    "compose/rules.yml",
}  # fmt: skip
TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"


def template_files(package: str) -> set[str]:
    """Every file of the model template, by the path it gets in a bake."""
    files = set()
    for path in TEMPLATE.rglob("*"):
        if path.is_file() and not {"__pycache__", ".ruff_cache"} & set(path.parts):
            relative = str(path.relative_to(TEMPLATE))
            files.add(relative.replace("{{cookiecutter.package_name}}", package))
    return files


def expected_files(answers: dict, package: str) -> set[str]:
    """The template's files, minus what `_options` gives only to the values not chosen (a
    path two values share stays when either is chosen)."""
    excluded, shared = [], set()
    for option, values in OPTIONS.items():
        answer = answers[option]
        chosen = json.dumps(answer) if isinstance(answer, bool) else answer  # true / false
        excluded += [p.format(package_name=package) for v, ps in values.items() if v != chosen
                     for p in ps]  # fmt: skip
        shared |= {p.format(package_name=package) for p in values.get(chosen, [])}
    excluded = [e for e in excluded if e not in shared]
    kept = {
        f for f in template_files(package)
        if not any(f == e or f.startswith(f"{e}/") for e in excluded)
    }  # fmt: skip
    return kept | GENERATED_FILES


def test_the_options_table_names_real_paths_and_every_value():
    """`_options` (cookiecutter.json) lists each choice's values and only existing paths."""
    for option, values in OPTIONS.items():
        prompted = DEFAULTS[option]
        assert list(values) == (prompted if isinstance(prompted, list) else ["true", "false"])
        for value, paths in values.items():
            for path in paths:
                located = TEMPLATE / path.format(package_name="{{cookiecutter.package_name}}")
                assert located.exists(), f"_options.{option}.{value}: {path} does not exist"
    assert set(template_files("pkg")).isdisjoint(GENERATED_FILES)


def files_of(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_exactly_the_expected_files(baked):
    answers, root = baked
    package = json.loads((root / ".cruft.json").read_text())["context"]["cookiecutter"]
    assert files_of(root) == expected_files(answers, package["package_name"])


def test_no_template_syntax_left(baked):
    _, root = baked
    package = json.loads((root / ".cruft.json").read_text())["context"]["cookiecutter"]
    allowed = {path.format(pkg=package["package_name"]) for path in JINJA_ALLOWED}
    for relative in files_of(root) - allowed:
        text = (root / relative).read_text()
        for marker in ("{{", "{%", "{#", "cookiecutter."):
            assert marker not in text, f"{relative} still contains {marker!r}"


# Words that name an option value. A bake reads as if written for its own answers: no file
# names a value it was not generated with (URLs aside: where a tool comes from is not an option).
VALUE_WORDS = {
    ("serving_runtime", "seldon-core"): ("seldon",),
    # (not the V2 protocol's gRPC service, GRPCInferenceService: MLServer's clients name it)
    ("serving_runtime", "kserve"): ("kserve", "mlserver", r"inferenceservice\b"),
    ("serving_runtime", "seldon-core-mlserver"): ("seldon", "mlserver"),
    ("drift_library", "alibi-detect"): ("alibi",),
    ("drift_library", "evidently"): ("evidently",),
    ("ci_provider", "github"): ("github",),
    ("ci_provider", "gitlab"): ("gitlab",),
    # (the example datasets, and what only one task's model answers or is judged by)
    ("task", "classification"): ("iris", "probabilit", "predict_proba", r"\bclassifier"),
    ("task", "regression"): ("diabetes", "residual", r"\bregression", "regressor"),
}
# Files that may name other values, each with its reason.
WORDING_EXCEPTIONS = {
    # The cluster contract is the platform's: byte-identical in the platform repo, which may
    # run every runtime side by side.
    "src/{pkg}/delivery/contract.py",
    # Resolved once for every combination and used as constraints: pins of packages a bake
    # does not install are inert (`make lock` in the repo re-resolves it for its own extras).
    "requirements.lock",
    "requirements-serve.lock",
    # The answers record, in cruft's format (it lists the template's private settings).
    ".cruft.json",
    # What Seldon's operator injects into every container of a SeldonDeployment, whatever
    # server it runs: MLServer's variables among them.
    "tests/runtimes/seldon_deployment/manifest.py",
}
URL = re.compile(r"https?://\S+")


def test_a_bake_names_only_the_option_values_it_was_generated_with(baked):
    answers, root = baked
    package = json.loads((root / ".cruft.json").read_text())["context"]["cookiecutter"]
    allowed = {path.format(pkg=package["package_name"]) for path in WORDING_EXCEPTIONS}
    chosen = {(o, answers[o]) for o in ("serving_runtime", "ci_provider", "task")}
    if answers["include_drift_detection"]:
        chosen.add(("drift_library", answers["drift_library"]))
    # A word is foreign when only values this bake was not made with use it.
    own = {w for key, words in VALUE_WORDS.items() if key in chosen for w in words}
    foreign = sorted({w for key, words in VALUE_WORDS.items() if key not in chosen
                      for w in words} - own)  # fmt: skip
    pattern = re.compile("|".join(foreign), re.IGNORECASE)
    found = []
    for relative in sorted(files_of(root) - allowed):
        for number, line in enumerate((root / relative).read_text().splitlines(), 1):
            match = pattern.search(URL.sub("", line)) or pattern.search(relative)
            if match:
                found.append(f"{relative}:{number}: {match.group(0)!r} in {line.strip()[:90]}")
    assert not found, f"{len(found)} mentions of other option values:\n" + "\n".join(found)


# Shapes of real credentials: cloud keys, tokens, private keys, passwords inside URLs.
SECRET_PATTERNS = [
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"glpat-[A-Za-z0-9_-]{20,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),
]


def test_no_secrets_in_generated_files(baked):
    _, root = baked
    for relative in files_of(root):
        text = (root / relative).read_text()
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(text), f"{relative} contains something like a secret"


def test_python_compiles(baked):
    _, root = baked
    for path in root.rglob("*.py"):
        py_compile.compile(str(path), doraise=True)


def test_ruff_lint_and_format_change_nothing(baked):
    _, root = baked
    ruff = [str(Path(sys.executable).with_name("ruff"))]
    check = subprocess.run(
        [*ruff, "check", "--no-cache", "."], cwd=root, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--no-cache", "--check", "--diff", "."],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_data_files_parse(baked):
    _, root = baked
    for path in root.rglob("*"):
        if path.suffix in (".yml", ".yaml"):
            list(yaml.load_all(path.read_text(), Loader=SafeLoader))
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text())


def pod_specs(documents: list[dict]) -> dict[str, dict]:
    """The pod spec of every workload, by kind/name."""
    pods = {}
    for document in documents:
        name = f"{document['kind']}/{document['metadata']['name']}"
        if document["kind"] == "SeldonDeployment":
            for predictor in document["spec"]["predictors"]:
                for i, component in enumerate(predictor["componentSpecs"]):
                    pods[f"{name}/{predictor['name']}/{i}"] = component["spec"]
        elif document["kind"] == "InferenceService":
            # The predictor inlines the pod's fields; the ServingRuntime it names the container.
            predictor = document["spec"]["predictor"]
            runtime = next(d for d in documents if d["kind"] == "ServingRuntime"
                           and d["metadata"]["name"] == predictor["model"]["runtime"])  # fmt: skip
            pod = {k: v for k, v in predictor.items() if k in POD_FIELDS}
            pods[f"{name}/predictor"] = {**pod, "containers": runtime["spec"]["containers"]}
        elif document["kind"] == "Deployment":
            pods[name] = document["spec"]["template"]["spec"]
    return pods


CREDENTIAL_WORDS = ("PASSWORD", "TOKEN", "SECRET", "USERNAME", "ACCESS_KEY")
# The pod-level fields an InferenceService's predictor carries beside KServe's own.
POD_FIELDS = ("serviceAccountName", "automountServiceAccountToken", "securityContext", "volumes")


def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return list(yaml.load_all(result.stdout, Loader=SafeLoader))


def test_kustomize_base_renders(baked, tmp_path):
    answers, root = baked
    documents = kustomize(root / "k8s" / "base")
    # The model server's kinds: KServe's runtime holds the container, and its servers may
    # copy requests to each other's (a shadow rollout).
    server = {"seldon-core": ["SeldonDeployment"], "seldon-core-mlserver": ["SeldonDeployment"],
              "kserve": ["InferenceService", "ServingRuntime", "NetworkPolicy"]}  # fmt: skip
    kinds = ["ConfigMap", "ConfigMap", "ConfigMap", "PodMonitor", "PrometheusRule",
             *server[answers["serving_runtime"]], "ServiceAccount", "ServiceAccount",
             "NetworkPolicy", "NetworkPolicy", "PodDisruptionBudget"]  # fmt: skip
    if answers["include_drift_detection"]:
        kinds += ["Deployment", "Service", "ServiceAccount", "ServiceMonitor", "NetworkPolicy",
                  "PersistentVolumeClaim"]  # drift service, its quality state  # fmt: skip
        assert sorted(d["kind"] for d in documents) == sorted(kinds)
        # Retraining is the component only production includes (as render-overlay writes it).
        shutil.copytree(root / "k8s", tmp_path / "k8s")
        (tmp_path / "k8s" / "production").mkdir()
        (tmp_path / "k8s" / "production" / "kustomization.yaml").write_text(
            f"namespace: {DEFAULTS['kubernetes_namespace']}-production\n"
            "resources: [../base]\ncomponents: [../base/retrain]\n"
        )
        documents = kustomize(tmp_path / "k8s" / "production")
        kinds += ["AlertmanagerConfig", "Deployment", "Service", "ServiceAccount",
                  "NetworkPolicy"]  # retraining  # fmt: skip
    assert sorted(d["kind"] for d in documents) == sorted(kinds)
    config_maps = [d for d in documents if d["kind"] == "ConfigMap"]
    config = next(d for d in config_maps if "grafana" not in d["metadata"]["name"])
    # the Grafana sidecars pick up the dashboard and the alert rules by these labels
    sidecar_labels = sorted(
        key for d in config_maps for key in d["metadata"].get("labels", {}) if "grafana" in key
    )
    assert sidecar_labels == ["grafana_alert", "grafana_dashboard"]
    pods = pod_specs(documents)
    assert len(pods) == (3 if answers["include_drift_detection"] else 1)
    for name, pod in pods.items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container), name
            assert "limits" in container["resources"], name
            # credentials only by reference, never as literal values: a Secret's key, or a
            # file of a Secret mounted into the container
            secret_volumes = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
            secret_mounts = [m["mountPath"] for m in container.get("volumeMounts", [])
                             if m["name"] in secret_volumes]  # fmt: skip
            for variable in container.get("env", []):
                if not any(word in variable["name"] for word in CREDENTIAL_WORDS):
                    continue
                if variable["name"].endswith("_FILE"):
                    assert any(variable["value"].startswith(f"{mount}/")
                               for mount in secret_mounts), (name, variable)  # fmt: skip
                else:
                    assert "secretKeyRef" in variable["valueFrom"], (name, variable["name"])
            # the generated ConfigMap's hashed name reaches every workload
            assert container["envFrom"][0]["configMapRef"]["name"] == config["metadata"]["name"]


CI_SCHEMAS = {".github/workflows/ci.yml": "vendor.github-workflows",
              ".gitlab-ci.yml": "vendor.gitlab-ci"}  # fmt: skip


def test_the_ci_file_is_valid_for_its_provider(baked):
    """Each provider's CI file passes its service's schema (and actionlint for GitHub)."""
    _, root = baked
    present = [path for path in CI_SCHEMAS if (root / path).exists()]
    assert len(present) == 1
    path = root / present[0]
    code, output = check_jsonschema(CI_SCHEMAS[present[0]], path)
    assert code == 0, output
    if present[0].startswith(".github"):
        code, output = actionlint(path)
        assert code == 0, output


def test_answers_and_template_version_are_recorded(baked):
    answers, root = baked
    record = json.loads((root / ".cruft.json").read_text())
    context = record["context"]["cookiecutter"]
    for option, value in answers.items():
        assert context[option] == value
    template_version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert context["__template_version"] == template_version
    # Where the template can be fetched again: the checkout's remote (its path without one).
    origin = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"],
                            capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    assert record["template"] == context["_template"] == (origin or str(ROOT))
    assert record["commit"] == context["_commit"]
    assert "_output_dir" not in context and "_repo_dir" not in context


def test_lock_pins_every_dependency(baked):
    _, root = baked
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]

    def normalized(name: str) -> str:  # PEP 503: ruamel.yaml and ruamel-yaml are one name
        return re.sub(r"[-_.]+", "-", name).lower()

    def pins(lock: str) -> dict[str, str]:
        return {
            normalized(line.split("==")[0]): line.split("==")[1].split()[0]
            for line in (root / lock).read_text().splitlines()
            if "==" in line and not line.startswith("#")
        }

    # KServe's serving extra (MLServer) has a lock of its own; every other extra, the main one.
    extras = dict(project["optional-dependencies"])
    locks = {"requirements.lock": list(project["dependencies"])}
    if (root / "requirements-serve.lock").exists():
        locks["requirements-serve.lock"] = [*project["dependencies"], *extras.pop("serve")]
    locks["requirements.lock"] += [r for extra in extras.values() for r in extra]
    for lock, declared in locks.items():
        pinned = pins(lock)
        for requirement in declared:
            name, version = requirement.split("==")
            name = name.split("[")[0]  # mlflow[auth]: the lock pins mlflow (and the extra's own)
            assert pinned.get(normalized(name)) == version, f"{requirement}: not what {lock} pins"
        # Where a pin comes from, as the repo's own `make lock` writes it: this repo by name.
        text = (root / lock).read_text()
        sources = set(re.findall(r"#\s+(?:via )?(\S+) \(pyproject\.toml\)", text))
        assert sources == {project["name"]}, f"{lock} names {sources} as the project"


# Options that are free text or addresses, with a non-default value each; a bake with that
# value must differ from the default bake (every option changes something real).
NON_DEFAULT_ANSWERS = {
    "project_name": "Fraud Scorer",
    "project_slug": "fraud-scorer",
    "package_name": "fraud_scorer",
    "model_name": "fraud-scorer",
    "description": "Scores card payments.",
    "author_name": "Risk Team",
    "author_email": "risk@example.org",
    "ci_provider": "gitlab",
    "container_registry": "registry.example.org:5000/risk",
    "platform_repo_url": "https://gitlab.example.org/risk/platform.git",
    "kubernetes_namespace": "risk-models",
    "mlflow_tracking_uri": "http://mlflow.tracking.svc:5000",
    "kafka_bootstrap_servers": "kafka-0.kafka.streaming.svc:9092,kafka-1.kafka.streaming.svc:9092",
    "prefect_api_url": "http://prefect.orchestration.svc:4200/api",
    "include_drift_detection": False,
    "hyperparameter_tuning": True,
    "serving_runtime": "kserve",
    "drift_library": "evidently",
    "task": "regression",
}


def test_every_option_is_covered():
    prompted = {k for k in DEFAULTS if not k.startswith("_")}
    assert prompted == set(NON_DEFAULT_ANSWERS)


@pytest.fixture(scope="module")
def default_bake(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("default"))


def _contents(root: Path) -> dict[str, str]:
    return {
        relative: (root / relative).read_text()
        for relative in files_of(root)
        if relative != ".cruft.json"
    }


@pytest.mark.parametrize("option", sorted(NON_DEFAULT_ANSWERS))
def test_every_option_changes_the_output(option, default_bake, tmp_path):
    changed = bake(tmp_path, **{option: NON_DEFAULT_ANSWERS[option]})
    assert _contents(changed) != _contents(default_bake), f"{option} changes nothing"


def test_the_templates_own_workflow_passes_actionlint():
    code, output = actionlint(ROOT / ".github" / "workflows" / "ci.yml")
    assert code == 0, output


def test_registry_and_platform_defaults_follow_the_ci_provider(baked):
    """A GitLab job can push only to its project's registry: the defaults say so."""
    answers, root = baked
    context = json.loads((root / ".cruft.json").read_text())["context"]["cookiecutter"]
    registry, platform = {
        "github": ("ghcr.io/", "https://github.com/"),
        "gitlab": ("registry.gitlab.com/", "https://gitlab.com/"),
    }[answers["ci_provider"]]
    assert context["container_registry"].startswith(registry)
    assert context["platform_repo_url"].startswith(platform)
