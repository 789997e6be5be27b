"""The admission policy of the model namespaces: only images the model repos' CI built.

Kyverno enforces it (apps/kyverno.yaml). It is generated from model-repos.yaml, never
written by hand (`gitops policy`; `gitops validate` fails when the file is stale):
- one rule denies every container whose image is not, by digest, one of a registered model's
  images (`<images>`, `<images>-train`, `<images>-drift`): with no model registered nothing
  runs there;
- one rule per model verifies its images: signed keylessly by that model repo's CI identity
  (the OIDC issuer and the certificate subject of its CI file on its branch, in Sigstore's
  transparency log), with an SPDX SBOM and a SLSA v1 provenance attested by the same
  identity, the provenance naming that repository.

`gitops validate` also checks every model overlay against it: each model directory has an
entry, and every pod image of a model's environments is one of its own, by digest.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from . import PlatformError, contract
from .model_repos import ModelRepo
from .settings import IMAGE_POLICY_FILE, MODEL_LABEL, MODEL_NAMESPACES

POLICY_NAME = "model-images"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
IMAGE_SUFFIXES = ("", "-train", "-drift")  # serve, train, drift
REKOR = "https://rekor.sigstore.dev"
SBOM_TYPE = "https://spdx.dev/Document"
PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"
# Where the provenance names the repository it was built from (scripts/image-provenance).
PROVENANCE_REPOSITORY = "buildDefinition.externalParameters.workflow.repository"
# Kyverno's expressions are "{" * 2 + JMESPath + "}" * 2; spelled so, they pass through this
# repo's template engine untouched.
OPEN, CLOSE = "{" * 2, "}" * 2
HEADER = """\
# Generated from model-repos.yaml by `gitops policy`: do not edit (gitops validate fails when
# this file and model-repos.yaml disagree). Kyverno enforces it on every Pod created in the
# model namespaces, Deployments' and Jobs' pods included.
"""


def references(repo: ModelRepo) -> list[str]:
    """The image references a model may run: its images by digest, with or without the tag
    (a model repo's overlay pins both: `<image>:<commit>@sha256:<digest>`)."""
    return [f"{repo.images}{suffix}{tag}@sha256:*"
            for suffix in IMAGE_SUFFIXES for tag in ("", ":*")]  # fmt: skip


def image_name(image: str) -> tuple[str, str | None]:
    """(repository, digest) of an image reference; digest None unless it is sha256:<64 hex>."""
    name, _, digest = image.partition("@")
    if name.rfind(":") > name.rfind("/"):  # a tag, not a registry's port
        name = name[: name.rfind(":")]
    return name, digest if DIGEST.fullmatch(digest) else None


def _attestor(repo: ModelRepo) -> dict:
    return {"entries": [{"keyless": {"issuer": repo.oidc_issuer,
                                     "subject": repo.signing_identity,
                                     "rekor": {"url": REKOR}}}]}  # fmt: skip


def _match() -> dict:
    return {"any": [{"resources": {"kinds": ["Pod"], "namespaces": list(MODEL_NAMESPACES)}}]}


def policy(repos: list[ModelRepo]) -> dict:
    allowed = [reference for repo in repos for reference in references(repo)]
    element = f"{OPEN} element.image {CLOSE}"
    rules = [{
        "name": "only-model-repo-images",
        "match": _match(),
        "validate": {
            "failureAction": "Enforce",
            "message": "the model namespaces run only images of a model registered in "
                       "model-repos.yaml, by digest (see its comments)",
            "foreach": [{
                "list": "request.object.spec.[containers, initContainers, ephemeralContainers][]",
                "deny": {"conditions": {"any": [
                    {"key": element, "operator": "AnyNotIn", "value": allowed or ["none"]},
                ]}},
            }],
        },
    }]  # fmt: skip
    for repo in repos:
        attestor = _attestor(repo)
        rules.append({
            "name": f"verify-{repo.name}",
            "match": _match(),
            "verifyImages": [{
                "imageReferences": references(repo),
                "failureAction": "Enforce",
                "required": True,
                "verifyDigest": True,
                "mutateDigest": False,
                "attestors": [attestor],
                "attestations": [
                    {"type": SBOM_TYPE, "attestors": [attestor]},
                    {"type": PROVENANCE_TYPE, "attestors": [attestor], "conditions": [{"all": [
                        {"key": f"{OPEN} {PROVENANCE_REPOSITORY} {CLOSE}", "operator": "Equals",
                         "value": repo.repository},
                    ]}]},
                ],
            }],
        })  # fmt: skip
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": POLICY_NAME,
            "annotations": {
                "policies.kyverno.io/title": "Only signed images of registered model repos",
                "policies.kyverno.io/subject": "Pod",
            },
        },
        "spec": {
            # Admission only: a background scan cannot verify signatures of running pods.
            "background": False,
            # Fail closed: while Kyverno cannot answer, no pod is admitted there.
            "webhookConfiguration": {"failurePolicy": "Fail", "timeoutSeconds": 30},
            "rules": rules,
        },
    }


def render(repos: list[ModelRepo]) -> str:
    return HEADER + yaml.safe_dump(policy(repos), sort_keys=False, width=100)


def write(root: Path, repos: list[ModelRepo]) -> bool:
    """Write the policy file; True if it changed."""
    path = root / IMAGE_POLICY_FILE
    text = render(repos)
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def stale(root: Path, repos: list[ModelRepo]) -> list[str]:
    path = root / IMAGE_POLICY_FILE
    if not path.is_file():
        return [f"{IMAGE_POLICY_FILE}: missing: run gitops policy"]
    if path.read_text() != render(repos):
        return [f"{IMAGE_POLICY_FILE}: differs from what model-repos.yaml gives: run gitops "
                "policy (and review the diff)"]  # fmt: skip
    return []


def check_deployed(documents: list[dict]) -> list[str]:
    """The policy is deployed, covers every model namespace and enforces."""
    found = [d for d in documents if d.get("kind") == "ClusterPolicy"
             and (d.get("metadata") or {}).get("name") == POLICY_NAME]  # fmt: skip
    if not found:
        return [f"no Application deploys the ClusterPolicy {POLICY_NAME} ({IMAGE_POLICY_FILE}): "
                "the model namespaces would admit any image"]  # fmt: skip
    problems = []
    for rule in found[0].get("spec", {}).get("rules", []):
        covered = {ns for entry in rule.get("match", {}).get("any", [])
                   for ns in entry.get("resources", {}).get("namespaces", [])}  # fmt: skip
        for namespace in sorted(set(MODEL_NAMESPACES) - covered):
            problems.append(f"ClusterPolicy {POLICY_NAME}: rule {rule.get('name')} does not "
                            f"cover namespace {namespace}")  # fmt: skip
        actions = [rule.get("validate", {}).get("failureAction")] if "validate" in rule else []
        actions += [v.get("failureAction") for v in rule.get("verifyImages", [])]
        if any(action != "Enforce" for action in actions):
            problems.append(f"ClusterPolicy {POLICY_NAME}: rule {rule.get('name')} must be "
                            "failureAction: Enforce")  # fmt: skip
    return problems


def check_models(inv, repos: list[ModelRepo]) -> list[str]:
    """Every model environment's model is registered, and its pods run only its own images,
    by digest."""
    by_name = {repo.name: repo for repo in repos}
    problems, missing = [], set()
    for application in inv.generated:
        model = (application["metadata"].get("labels") or {}).get(MODEL_LABEL)
        if model is None:
            continue
        repo = by_name.get(model)
        if repo is None:
            missing.add(model)
            continue
        own = {f"{repo.images}{suffix}" for suffix in IMAGE_SUFFIXES}
        for source in inv.sources(application):
            documents = inv.documents.get(source.path, []) if source.local else []
            for pod in contract.pods_of(documents):
                for container in _containers(pod.spec):
                    image = str(container.get("image") or "")
                    name, digest = image_name(image)
                    if name not in own or digest is None:
                        problems.append(
                            f"{source.path}: {pod.owner}: {pod.path}.containers"
                            f"[{container.get('name')}]: image {image!r} is not one of model "
                            f"{model}'s images by digest ({repo.images}[-train|-drift]@sha256:"
                            "...): the admission policy would refuse the pod"
                        )  # fmt: skip
    problems += [f"models/{model}/: no entry in model-repos.yaml, so the admission policy "
                 "refuses its images" for model in sorted(missing)]  # fmt: skip
    return problems


def _containers(spec: dict) -> list[dict]:
    return [c for key in ("initContainers", "containers") for c in spec.get(key) or []]


def load_and_check(root: Path, inv, documents: list[dict]) -> list[str]:
    from . import model_repos

    try:
        repos = model_repos.load(root)
    except PlatformError as error:
        return [str(error)]
    return stale(root, repos) + check_deployed(documents) + check_models(inv, repos)
