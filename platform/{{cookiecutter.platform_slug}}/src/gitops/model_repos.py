"""The model repos this platform trusts, and what each may do: `model-repos.yaml`.

The platform team keeps that file (CODEOWNERS); each entry names a model, its repository,
where its images live and the account its CI opens platform pull requests as. From it come:
- the CI identity that must have signed the model's images (the admission policy admits
  nothing else into the model namespaces), and
- what that account may change here: `models/<model>/` only (`gitops check-change`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from . import PlatformError

FILE = "model-repos.yaml"
PROVIDERS = ("github", "gitlab")
# The OIDC issuer of GitHub Actions' tokens; a GitLab instance issues its own at its URL.
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
FIELDS = {"name", "repository", "provider", "images", "delivery_account", "branch"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
IMAGE_PATH = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+$")


@dataclass(frozen=True)
class ModelRepo:
    name: str  # the model: models/<name>/, its images <images>, <images>-train, ...
    repository: str  # https://<host>/<owner>/<repo>, no .git
    provider: str  # github | gitlab: whose CI signs its images
    images: str  # registry path of the serving image; the others add -train, -drift
    delivery_account: str  # the login its CI opens platform pull requests as
    branch: str = "main"  # the branch whose pipeline builds, signs and delivers

    @property
    def oidc_issuer(self) -> str:
        if self.provider == "github":
            return GITHUB_ISSUER
        parts = urlsplit(self.repository)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def signing_identity(self) -> str:
        """The subject of the keyless certificate its CI signs with (cosign's identity)."""
        if self.provider == "github":
            return f"{self.repository}/.github/workflows/ci.yml@refs/heads/{self.branch}"
        return f"{self.repository}//.gitlab-ci.yml@refs/heads/{self.branch}"

    @property
    def path(self) -> str:
        """What its CI may change in this repo."""
        return f"models/{self.name}/"


def load(root: Path) -> list[ModelRepo]:
    """Every trusted model repo; a malformed entry is an error naming it and the field."""
    path = root / FILE
    if not path.is_file():
        raise PlatformError(f"{FILE}: missing (the model repos this platform trusts)")
    return parse(path.read_text())


def parse(text: str) -> list[ModelRepo]:
    """The entries of a model-repos.yaml text (`load` reads the file; `gitops check-change`
    reads the base revision's)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PlatformError(f"{FILE}: not YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise PlatformError(f"{FILE}: must be a mapping with a list `models`")
    repos = [_entry(index, entry) for index, entry in enumerate(document["models"])]
    for attribute in ("name", "delivery_account", "images"):
        seen: set[str] = set()
        for repo in repos:
            value = getattr(repo, attribute)
            if value in seen:
                raise PlatformError(f"{FILE}: {attribute} {value!r} appears twice")
            seen.add(value)
    return repos


def _entry(index: int, entry: object) -> ModelRepo:
    where = f"{FILE}: models[{index}]"
    if not isinstance(entry, dict):
        raise PlatformError(f"{where}: must be a mapping")
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise PlatformError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for field in sorted(FIELDS - {"branch"}):
        if not isinstance(entry.get(field), str) or not entry[field]:
            raise PlatformError(f"{where}: {field} must be a non-empty string")
    repo = ModelRepo(**{key: str(value) for key, value in entry.items()})
    where = f"{FILE}: model {repo.name!r}"
    if not DNS_LABEL.match(repo.name):
        raise PlatformError(f"{where}: name must be a DNS-1123 label")
    if repo.provider not in PROVIDERS:
        raise PlatformError(f"{where}: provider must be one of {', '.join(PROVIDERS)}")
    parts = urlsplit(repo.repository)
    owner_and_repo = len(parts.path.strip("/").split("/")) >= 2
    clean = not (parts.query or parts.fragment or repo.repository.endswith((".git", "/")))
    if parts.scheme != "https" or not parts.netloc or not owner_and_repo or not clean:
        raise PlatformError(
            f"{where}: repository must be https://<host>/<owner>/<repo> (no .git), "
            f"got {repo.repository!r}"
        )
    if repo.provider == "github" and parts.netloc != "github.com":
        raise PlatformError(f"{where}: a github repository lives on github.com")
    if not IMAGE_PATH.match(repo.images):
        raise PlatformError(
            f"{where}: images must be a registry path without scheme, tag or digest, "
            f"got {repo.images!r}"
        )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\[\]-]*", repo.delivery_account):
        raise PlatformError(f"{where}: delivery_account {repo.delivery_account!r} is not a login")
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", repo.branch):
        raise PlatformError(f"{where}: branch {repo.branch!r} is not a branch name")
    return repo
