"""`make scan`: the security scanners over everything this repo ships, with named findings.

{%- if cookiecutter.ci_provider == "github" %}

- zizmor over the workflows (unpinned actions, persisted credentials, template injection,
  over-broad permissions, ...);
{%- else %}

- every image a job of the pipeline runs in, pinned by digest;
{%- endif %}
- checkov over the Dockerfile, the CI file and every manifest the cluster would get: both
  environments' overlays rendered as CI renders them, plus each model server's pod spec as a
  Pod (checkov does not look inside the model server's custom resource).

A check is skipped only where it is justified, in place: a `checkov.io/skipN:
CKV_...=<reason>` annotation on the manifest, `# checkov:skip=CKV_...:<reason>` in the
{%- if cookiecutter.ci_provider == "github" %}
Dockerfile, `# zizmor: ignore[<audit>]` with the reason on the workflow's line. A skip
without a reason is a finding of its own.
{%- else %}
Dockerfile or the pipeline. A skip without a reason is a finding of its own.
{%- endif %}
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import yaml

from ..settings import MODEL_NAME
from . import DeliveryError, contract, kafka, overlay, release

REPO = Path(__file__).resolve().parents[3]
{%- if cookiecutter.ci_provider == "github" %}
CI_FILES = Path(".github/workflows")
CI_FRAMEWORK = "github_actions"
{%- else %}
CI_FILE = Path(".gitlab-ci.yml")
CI_FRAMEWORK = "gitlab_ci"
{%- endif %}
# What the overlays are rendered with: placeholders shaped like CI's (tag, version, digests).
PLACEHOLDER = release.Release(
    "0" * 40, "1", {part: "sha256:" + "0" * 64 for part in release.COMPONENTS},
    model_digest="sha256:" + "0" * 64,
)  # fmt: skip
BY_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
TIMEOUT = 600  # seconds: checkov takes ~10 s here; a hang is an error, not a stuck CI job


def scan(scanners: Path, root: Path = REPO) -> list[str]:
    """Every finding, one line each, naming the file, the check and what it found."""
{%- if cookiecutter.ci_provider == "github" %}
    problems = zizmor(scanners, root / CI_FILES)
    ci_files = sorted((root / CI_FILES).glob("*.y*ml"))
{%- else %}
    problems = gitlab_images(root / CI_FILE)
    ci_files = [root / CI_FILE]
{%- endif %}
    with tempfile.TemporaryDirectory(prefix="scan-") as work:
        manifests = Path(work) / "manifests"
        manifests.mkdir()
        for environment, documents in rendered(Path(work) / "platform", root).items():
            write_manifests(documents, manifests / f"{environment}.yaml")
        files = [root / "Dockerfile", *sorted(manifests.iterdir()), *ci_files]
        problems += checkov(scanners, files, ["dockerfile", "kubernetes", CI_FRAMEWORK])
    return problems


# -- the manifests ------------------------------------------------------------------------------
def rendered(platform: Path, root: Path = REPO) -> dict[str, list[dict]]:
    """Both environments as Argo CD gets them: the overlay and its Kafka part."""
    overlay.render(platform, "staging", PLACEHOLDER, root / "k8s" / "base")
    overlay.promote(platform, "staging", "production")
    documents = {}
    for environment in release.ENVIRONMENTS:
        directory = release.overlay_dir(platform, environment)
        documents[environment] = kustomize(directory) + kustomize(directory / kafka.KAFKA_DIR)
    return documents


def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True,
                            text=True, timeout=TIMEOUT, check=False)  # fmt: skip
    if result.returncode != 0:
        raise DeliveryError(f"kubectl kustomize {directory} failed: {result.stderr.strip()}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def server_pods(documents: Iterable[dict]) -> list[dict]:
    """Each model server's pod spec as the Pod the operator would create, carrying its
    resource's annotations (so the resource's justified skips apply to its pods)."""
    owners = {contract.describe(d): d for d in documents}
    pods = []
    for pod in contract.pods_of(list(owners.values())):
        if not pod.server:
            continue
        metadata = owners[pod.owner].get("metadata") or {}
        where = re.sub(r"[^a-z0-9-]+", "-", pod.path.lower()).strip("-")
        pods.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{metadata.get('name')}-{where}"[:253],
                         "namespace": pod.namespace, "labels": pod.labels,
                         "annotations": dict(metadata.get("annotations") or {})},
            "spec": pod.spec,
        })  # fmt: skip
    return pods


def write_manifests(documents: list[dict], path: Path) -> None:
    path.write_text(yaml.safe_dump_all([*documents, *server_pods(documents)], sort_keys=False))


# -- the scanners -------------------------------------------------------------------------------
def _tool(scanners: Path, name: str) -> str:
    tool = scanners / name
    if not os.access(tool, os.X_OK):
        raise DeliveryError(f"{tool}: not found: run make install (it creates .venv-scan)")
    return str(tool)


{% if cookiecutter.ci_provider == "github" -%}
def zizmor(scanners: Path, workflows: Path) -> list[str]:
    result = subprocess.run(
        [_tool(scanners, "zizmor"), "--offline", "--no-progress", "--format", "json",
         str(workflows)],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    try:
        findings = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise DeliveryError(f"zizmor failed: {result.stderr.strip()[-2000:]}") from None
    problems = []
    for finding in findings:
        location = (finding.get("locations") or [{}])[0]
        path = location.get("symbolic", {}).get("key", {}).get("Local", {}).get("verbatim_path")
        row = location.get("concrete", {}).get("location", {}).get("start_point", {}).get("row")
        feature = location.get("concrete", {}).get("feature", "")
        where = f"{path}:{row + 1}" if row is not None else str(path)
        problems.append(f"{where}: zizmor {finding['ident']}: {finding['desc']} ({feature})")
    if result.returncode not in (0, *range(10, 15)) and not problems:
        raise DeliveryError(f"zizmor failed ({result.returncode}): {result.stderr.strip()}")
    return problems


{% endif -%}
def checkov(scanners: Path, files: list[Path], frameworks: list[str]) -> list[str]:
    # Not --quiet: that leaves out the skipped checks, whose reasons are checked here.
    command = [_tool(scanners, "checkov"), "--compact", "--skip-download",
               "--output", "json", "--framework", *frameworks]  # fmt: skip
    for file in files:
        command += ["--file", str(file)]
    # BC_SKIP_MAPPING: checkov would otherwise ask a vendor's API for guidelines first.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT,
                            check=False)  # fmt: skip
    try:
        reports = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise DeliveryError(f"checkov failed: {(result.stdout + result.stderr)[-2000:]}") from None
    problems = []
    for report in reports if isinstance(reports, list) else [reports]:
        results = report.get("results") or {}
        for check in results.get("failed_checks", []):
            problems.append(f"{_where(check)}: checkov {check['check_id']}: {check['check_name']}")
        for check in results.get("skipped_checks", []):
            reason = ((check.get("check_result") or {}).get("suppress_comment") or "").strip()
            if not reason or reason == "No comment provided":
                problems.append(f"{_where(check)}: checkov {check['check_id']} skipped "
                                f"without a reason")  # fmt: skip
    return problems


def _where(check: dict) -> str:
    path = Path(check.get("file_path") or "?").name
    lines = check.get("file_line_range") or []
    resource = check.get("resource") or ""
    return f"{path}:{lines[0]}" + (f" {resource}" if resource else "") if lines else path


{% if cookiecutter.ci_provider == "gitlab" -%}
def gitlab_images(ci_file: Path) -> list[str]:
    """Every `image:` of the pipeline pinned by digest: a tag can be moved under it."""
    document = yaml.safe_load(ci_file.read_text()) or {}
    problems = []
    for name, job in document.items():
        if not isinstance(job, dict) or "image" not in job:
            continue
        image = job["image"]
        image = image.get("name") if isinstance(image, dict) else image
        if not isinstance(image, str) or not BY_DIGEST.search(image):
            problems.append(f"{ci_file.name}: {name}: image {image!r} is not pinned by digest "
                            f"(name@sha256:...)")  # fmt: skip
    return problems


{% endif -%}
def main(scanners: Path) -> int:
    problems = scan(scanners)
    for problem in problems:
        print(problem)
    clean = f"scan: {MODEL_NAME}: the CI file, the Dockerfile and both overlays are clean"
    print(f"scan: {len(problems)} finding(s)" if problems else clean)
    return 1 if problems else 0
