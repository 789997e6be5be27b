"""What the cluster runs is pinned, scanned, signed and attested: the scanners over this repo,
the pins of the CI file, and the scripts CI signs and describes each image with.

The scanners (zizmor, checkov) run for real from .venv-scan. Signing itself needs an OIDC
issuer and Sigstore, which only CI has: the signing script is run against a recording
stand-in for cosign that checks the calls it gets.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.delivery import scan

from .ci_providers import provider

REPO = Path(__file__).resolve().parents[1]
SCANNERS = REPO / ".venv-scan" / "bin"
LOCK = REPO / "requirements.lock"
PROVIDER = provider()
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def scanners() -> Path:
    assert (SCANNERS / "checkov").exists(), "no .venv-scan: run make install"
    return SCANNERS


# -- the scanners -----------------------------------------------------------------------------
def test_the_ci_file_the_dockerfile_and_both_overlays_scan_clean(scanners):
    assert scan.scan(scanners) == []


def test_every_reference_of_the_ci_file_is_pinned():
    text = (REPO / PROVIDER.CI_FILE).read_text()
    kind = "uses" if "uses:" in PROVIDER.PINNED else "image"
    references = [line.strip() for line in text.splitlines()
                  if re.match(rf"\s*(- )?{kind}: ", line)]  # fmt: skip
    assert references
    for line in references:
        assert re.search(PROVIDER.PINNED, line.removeprefix("- ")), line


def test_a_reference_by_tag_fails_the_pin_check(scanners, tmp_path):
    ci_file = tmp_path / PROVIDER.CI_FILE
    ci_file.parent.mkdir(parents=True, exist_ok=True)
    ci_file.write_text(PROVIDER.unpinned((REPO / PROVIDER.CI_FILE).read_text()))
    findings = PROVIDER.pin_findings(scanners, tmp_path)
    assert len(findings) == 1, findings
    assert re.search(r"unpinned-uses|not pinned by digest", findings[0]), findings


def test_a_manifest_finding_is_named_and_a_skip_needs_its_reason(scanners, tmp_path):
    documents = scan.rendered(tmp_path / "platform")["staging"]
    kind = "{{ 'SeldonDeployment' if cookiecutter.__serving_operator == 'seldon-core' else 'InferenceService' }}"
    server = next(d for d in documents if d["kind"] == kind)
    # A skip without its reason, and a privileged container in the model server's pod.
    server["metadata"]["annotations"]["checkov.io/skip1"] = "CKV_K8S_11"
    pod = scan.server_pods([server])[0]
    container = pod["spec"]["containers"][0]
    container["securityContext"] = {**container.get("securityContext", {}), "privileged": True}
    (tmp_path / "manifests.yaml").write_text(yaml.safe_dump_all([server, pod]))
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(re.sub(r"^# checkov:skip=CKV_DOCKER_2:.*\n", "",
                                 (REPO / "Dockerfile").read_text(), flags=re.M))  # fmt: skip
    findings = scan.checkov(scanners, [tmp_path / "manifests.yaml", dockerfile],
                            ["kubernetes", "dockerfile"])  # fmt: skip
    text = "\n".join(findings)
    assert "CKV_K8S_16" in text and "privileged" in text.lower(), text  # named, with the pod
    assert re.search(r"CKV_K8S_11 skipped without a reason", text), text
    assert re.search(r"Dockerfile\S* .*CKV_DOCKER_2: .*HEALTHCHECK", text), text


def test_every_model_server_pod_is_scanned_with_its_resources_skips(tmp_path):
    documents = scan.rendered(tmp_path / "platform")["production"]
    pods = scan.server_pods(documents)
    assert pods, "the model server's pod specs are handed to checkov as Pods"
    for pod in pods:
        assert pod["metadata"]["namespace"].endswith("-production")
        assert any(k.startswith("checkov.io/skip") for k in pod["metadata"]["annotations"])


def test_a_missing_scanner_is_named(tmp_path):
    with pytest.raises(scan.DeliveryError, match="run make install"):
        scan.checkov(tmp_path, [REPO / "Dockerfile"], ["dockerfile"])


# -- the image's SBOM and provenance ----------------------------------------------------------
def run_script(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / name), *args], cwd=REPO,
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip


def locked_version(name: str) -> str:
    return re.search(rf"^{name}==(\S+)", LOCK.read_text(), re.M)[1]


def test_the_sbom_lists_what_the_interpreter_holds_as_spdx():
    result = run_script("image-sbom", f"ghcr.io/acme/model@{DIGEST}")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["spdxVersion"] == "SPDX-2.3" and document["dataLicense"] == "CC0-1.0"
    ids = [p["SPDXID"] for p in document["packages"]]
    assert len(ids) == len(set(ids)), "SPDX identifiers are unique"
    assert all(re.fullmatch(r"SPDXRef-[A-Za-z0-9.-]+", i) for i in ids)
    image = document["packages"][0]
    assert image["checksums"] == [{"algorithm": "SHA256", "checksumValue": "ab" * 32}]
    purls = {ref["referenceLocator"] for p in document["packages"]
             for ref in p.get("externalRefs", [])}  # fmt: skip
    # this environment was installed from the lock: its pins are what the SBOM names
    assert f"pkg:pypi/mlflow@{locked_version('mlflow')}" in purls
    assert f"pkg:pypi/scikit-learn@{locked_version('scikit-learn')}" in purls
    described = {r["relatedSpdxElement"] for r in document["relationships"]
                 if r["relationshipType"] == "CONTAINS"}  # fmt: skip
    assert described == set(ids[1:])


def test_the_sbom_refuses_an_image_without_its_digest():
    result = run_script("image-sbom", "ghcr.io/acme/model:latest")
    assert result.returncode != 0 and "IMAGE@sha256" in result.stderr


{% if cookiecutter.ci_provider == "github" -%}
CI_ENV = {
    "GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/model", "GITHUB_SHA": "c" * 40, "GITHUB_REF": "refs/heads/main",
    "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_WORKFLOW_REF": "acme/model/.github/workflows/ci.yml@refs/heads/main",
}  # fmt: skip
REPOSITORY, CI_PATH = "https://github.com/acme/model", ".github/workflows/ci.yml"
COMMIT_VARIABLE = "GITHUB_SHA"
{% else -%}
CI_ENV = {
    "GITLAB_CI": "true", "CI_PROJECT_URL": "https://gitlab.com/acme/model",
    "CI_COMMIT_SHA": "c" * 40, "CI_COMMIT_REF_NAME": "main",
    "CI_JOB_URL": "https://gitlab.com/acme/model/-/jobs/7", "CI_CONFIG_PATH": ".gitlab-ci.yml",
}  # fmt: skip
REPOSITORY, CI_PATH = "https://gitlab.com/acme/model", ".gitlab-ci.yml"
COMMIT_VARIABLE = "CI_COMMIT_SHA"
{% endif %}

def test_the_provenance_names_the_repository_commit_and_inputs():
    base = f"python:3.12-slim@{DIGEST}"
    env = {"PATH": os.environ["PATH"], **CI_ENV}
    result = run_script("image-provenance", "serve", f"ghcr.io/acme/model@{DIGEST}", base,
                        env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    predicate = json.loads(result.stdout)
    workflow = predicate["buildDefinition"]["externalParameters"]["workflow"]
    assert workflow == {"repository": REPOSITORY, "ref": "refs/heads/main", "path": CI_PATH}
    dependencies = predicate["buildDefinition"]["resolvedDependencies"]
    assert dependencies[0] == {"uri": f"git+{REPOSITORY}@refs/heads/main",
                               "digest": {"gitCommit": "c" * 40}}  # fmt: skip
    assert dependencies[1]["digest"] == {"sha256": "ab" * 32}
    lock = next(d for d in dependencies if d.get("name") == "requirements.lock")
    assert lock["digest"]["sha256"] == hashlib.sha256(LOCK.read_bytes()).hexdigest()
    assert predicate["runDetails"]["builder"]["id"].startswith(REPOSITORY)


def test_the_provenance_names_what_is_missing():
    env = {"PATH": os.environ["PATH"], **CI_ENV}
    del env[COMMIT_VARIABLE]
    result = run_script("image-provenance", "serve", f"x@{DIGEST}", f"y@{DIGEST}", env=env)
    assert result.returncode != 0 and f"{COMMIT_VARIABLE} not set" in result.stderr
    result = run_script("image-provenance", "serve", f"x@{DIGEST}", "python:3.12-slim",
                        env={"PATH": os.environ["PATH"], **CI_ENV})  # fmt: skip
    assert result.returncode != 0 and "base" in result.stderr


# -- signing ----------------------------------------------------------------------------------
@pytest.fixture
def cosign(tmp_path) -> tuple[Path, Path]:
    """A stand-in for cosign that records each call (one line of arguments per call)."""
    calls = tmp_path / "calls"
    tool = tmp_path / "cosign"
    tool.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    tool.chmod(0o755)
    return tool, calls


def sign(cosign_tool: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COSIGN": str(cosign_tool)}
    return subprocess.run([str(REPO / "scripts" / "sign-image"), *args], capture_output=True,
                          text=True, env=env, timeout=30)  # fmt: skip


def test_signing_signs_then_attests_the_sbom_and_provenance_by_digest(cosign, tmp_path):
    tool, calls = cosign
    (tmp_path / "sbom.json").write_text("{}")
    (tmp_path / "provenance.json").write_text("{}")
    image = f"ghcr.io/acme/model@{DIGEST}"
    result = sign(tool, image, str(tmp_path / "sbom.json"), str(tmp_path / "provenance.json"))
    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == [
        f"sign --yes {image}",
        f"attest --yes --type spdxjson --predicate {tmp_path / 'sbom.json'} {image}",
        f"attest --yes --type slsaprovenance1 --predicate {tmp_path / 'provenance.json'} {image}",
    ]


def test_signing_refuses_a_tag_or_a_missing_attestation_before_any_call(cosign, tmp_path):
    tool, calls = cosign
    (tmp_path / "sbom.json").write_text("{}")
    result = sign(tool, "ghcr.io/acme/model:main", str(tmp_path / "sbom.json"),
                  str(tmp_path / "sbom.json"))  # fmt: skip
    assert result.returncode == 2 and "sign by digest" in result.stderr
    result = sign(tool, f"ghcr.io/acme/model@{DIGEST}", str(tmp_path / "sbom.json"),
                  str(tmp_path / "none.json"))  # fmt: skip
    assert result.returncode == 2 and "none.json is missing" in result.stderr
    assert not calls.exists()


def test_the_ci_signs_every_image_it_builds_keylessly():
    text = (REPO / PROVIDER.CI_FILE).read_text()
    assert text.count("scripts/sign-image ") == 1  # in the loop over every built target
    assert "scripts/image-sbom" in text and "scripts/image-provenance" in text
    assert re.search(r"id-token: write|SIGSTORE_ID_TOKEN:", text)  # the OIDC identity
    assert "COSIGN_PRIVATE_KEY" not in text and "--key" not in text  # keyless


# -- secrets and installs ---------------------------------------------------------------------
{% if cookiecutter.ci_provider == "gitlab" -%}
def test_with_secrets_passes_only_the_named_groups():
    env = {"PATH": os.environ["PATH"], "MLFLOW_TRACKING_URI": "u", "PREFECT_API_URL": "q",
           "MLFLOW_TRACKING_PASSWORD": "p", "PLATFORM_REPO_TOKEN": "t", "OTHER": "o"}  # fmt: skip
    result = subprocess.run([str(REPO / "scripts" / "with-secrets"), "mlflow", "--", "env"],
                            capture_output=True, text=True, env=env, check=True)  # fmt: skip
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert seen["MLFLOW_TRACKING_URI"] == "u" and seen["OTHER"] == "o"
    assert "PLATFORM_REPO_TOKEN" not in seen and "PREFECT_API_URL" not in seen
    bad = subprocess.run([str(REPO / "scripts" / "with-secrets"), "mlfow", "--", "env"],
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert bad.returncode == 2 and "unknown group 'mlfow'" in bad.stderr


{% endif -%}
def test_a_file_that_does_not_match_the_locks_hash_is_refused(tmp_path):
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    name = "six"
    pin = re.search(rf"^{name}==\S+ \\\n(    --hash=\S+(?: \\)?\n)+", LOCK.read_text(), re.M)
    assert pin, f"the lock pins {name} with hashes"
    tampered = re.sub(r"--hash=sha256:[0-9a-f]{64}", "--hash=sha256:" + "0" * 64, pin[0])
    (tmp_path / "constraints.txt").write_text(tampered)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")],
                   check=True)  # fmt: skip
    python = tmp_path / "venv" / "bin" / "python"
    result = subprocess.run([uv, "pip", "install", "--python", str(python), "-c",
                             str(tmp_path / "constraints.txt"), name],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode != 0
    assert "hash" in result.stderr.lower() and "0" * 64 in result.stderr, result.stderr
