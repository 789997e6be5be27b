"""The promotion pull/merge request: production runs what staging runs, after review.

One request per model, from the branch `promote/<model>-production`: a new staging release
updates it (force-pushed branch, edited title and body) instead of opening another, and
re-running with nothing new changes nothing. The body compares the candidate's held-out
metrics with the current champion's, from the registry.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import MODEL_NAME
from . import DeliveryError, overlay, rollout
from .platform_repo import MAIN_BRANCH, PlatformRepo
from .rollout import Strategy

BRANCH = f"promote/{MODEL_NAME}-production"
DEFAULT_API_URLS = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
# Set by the CI runners themselves (GitHub Enterprise and self-managed GitLab included).
API_URL_VARIABLES = {"github": "GITHUB_API_URL", "gitlab": "CI_API_V4_URL"}
REPOSITORY_URL = re.compile(r"^(?:https://[^/]+/|git@[^:/]+:)(?P<path>.+?)/?$")
REPOSITORY_PATH = re.compile(r"^[\w.-]+(?:/[\w.-]+)+$")


def repository_path(url: str) -> str:
    """`owner/name` (GitLab: `group/sub/name`) of an https or ssh git URL."""
    match = REPOSITORY_URL.match(url)
    path = match["path"].removesuffix(".git") if match else ""
    if not REPOSITORY_PATH.match(path):
        raise DeliveryError(
            f"platform repo URL {url!r}: expected https://HOST/OWNER/NAME(.git) "
            "or git@HOST:OWNER/NAME.git"
        )
    return path


class ApiClient:
    """A small JSON-over-HTTPS client; errors name the call, never the token."""

    def __init__(self, api_url: str, token: str, headers: dict[str, str]) -> None:
        if not api_url.startswith(("https://", "http://")):
            raise DeliveryError(f"API URL {api_url!r}: must start with https://")
        if not token:
            raise DeliveryError("PLATFORM_REPO_TOKEN is empty: the API needs a token")
        self.api_url = api_url.rstrip("/")
        self.headers = {
            "Content-Type": "application/json",
            "User-Agent": f"{MODEL_NAME}-ci",
            **headers,
        }

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        request = urllib.request.Request(
            self.api_url + path,
            method=method,
            headers=self.headers,
            data=json.dumps(body).encode() if body is not None else None,
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            raise DeliveryError(f"{method} {path}: HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError) as error:
            raise DeliveryError(f"{method} {self.api_url}{path}: unreachable: {error}") from None


@dataclass(frozen=True)
class ReviewRequest:
    number: int
    url: str
    title: str
    body: str


class GitHub:
    """Pull requests through the GitHub REST API."""

    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.repository = repository
        self.api = ApiClient(
            api_url,
            token,
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )

    def find_open(self, branch: str) -> ReviewRequest | None:
        owner = self.repository.split("/")[0]
        query = urllib.parse.urlencode(
            {"head": f"{owner}:{branch}", "base": MAIN_BRANCH, "state": "open"}
        )
        found = self.api.call("GET", f"/repos/{self.repository}/pulls?{query}")
        return self._read(found[0]) if found else None

    def create(self, branch: str, title: str, body: str) -> ReviewRequest:
        created = self.api.call(
            "POST",
            f"/repos/{self.repository}/pulls",
            {"title": title, "head": branch, "base": MAIN_BRANCH, "body": body},
        )
        return self._read(created)

    def update(self, number: int, title: str, body: str) -> ReviewRequest:
        updated = self.api.call(
            "PATCH", f"/repos/{self.repository}/pulls/{number}", {"title": title, "body": body}
        )
        return self._read(updated)

    @staticmethod
    def _read(pull: dict) -> ReviewRequest:
        return ReviewRequest(
            pull["number"], pull["html_url"], pull["title"], pull.get("body") or ""
        )


class GitLab:
    """Merge requests through the GitLab REST API (v4)."""

    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.project = urllib.parse.quote(repository, safe="")
        self.api = ApiClient(api_url, token, {"PRIVATE-TOKEN": token})

    def find_open(self, branch: str) -> ReviewRequest | None:
        query = urllib.parse.urlencode(
            {"source_branch": branch, "target_branch": MAIN_BRANCH, "state": "opened"}
        )
        found = self.api.call("GET", f"/projects/{self.project}/merge_requests?{query}")
        return self._read(found[0]) if found else None

    def create(self, branch: str, title: str, body: str) -> ReviewRequest:
        created = self.api.call(
            "POST",
            f"/projects/{self.project}/merge_requests",
            {
                "source_branch": branch,
                "target_branch": MAIN_BRANCH,
                "title": title,
                "description": body,
                "remove_source_branch": True,
            },
        )
        return self._read(created)

    def update(self, number: int, title: str, body: str) -> ReviewRequest:
        updated = self.api.call(
            "PUT",
            f"/projects/{self.project}/merge_requests/{number}",
            {"title": title, "description": body},
        )
        return self._read(updated)

    @staticmethod
    def _read(merge: dict) -> ReviewRequest:
        return ReviewRequest(
            merge["iid"], merge["web_url"], merge["title"], merge.get("description") or ""
        )


PROVIDERS = {"github": GitHub, "gitlab": GitLab}


def client_for(provider: str, api_url: str | None, repository: str, token: str):
    if provider not in PROVIDERS:
        raise DeliveryError(f"provider {provider!r}: must be one of {', '.join(PROVIDERS)}")
    api_url = api_url or os.environ.get(API_URL_VARIABLES[provider]) or DEFAULT_API_URLS[provider]
    return PROVIDERS[provider](api_url, repository, token)


@dataclass(frozen=True)
class VersionFacts:
    """What the body says about a model version (from its registry tags)."""

    version: str
    metrics: dict[str, float]
    decision: str | None = None


def title(release: overlay.Release, strategy: Strategy | None = None) -> str:
    how = "" if strategy is None or strategy.name == "replace" else f" as a {strategy.name}"
    return (
        f"Promote {MODEL_NAME} version {release.model_version} "
        f"(image {release.image_tag}) to production{how}"
    )


def body(
    release: overlay.Release,
    candidate: VersionFacts | None,
    champion: VersionFacts | None,
    strategy: Strategy | None = None,
) -> str:
    if strategy is None or strategy.name == "replace":
        lead = "Production will run what staging runs now"
    else:
        lead = (
            f"Rollout ({strategy.describe()}): production keeps its version as the `default` "
            "predictor and runs what staging runs now as the `candidate`"
        )
    lines = [
        f"{lead}: **{MODEL_NAME}** model version "
        f"**{release.model_version}**, image tag `{release.image_tag}`.",
        "",
    ]
    if candidate is None:
        lines.append("The registry has no metrics for this version.")
    else:
        against = champion.version if champion else None
        lines += [
            f"| metric | version {candidate.version} | champion "
            f"{'(version ' + against + ')' if against else '(none)'} | change |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, value in sorted(candidate.metrics.items()):
            old = champion.metrics.get(name) if champion else None
            change = f"{value - old:+.4f}" if old is not None else "n/a"
            shown = f"{old:.4f}" if old is not None else "n/a"
            lines.append(f"| {name} | {value:.4f} | {shown} | {change} |")
        if candidate.decision:
            lines += ["", f"Training decision: `{candidate.decision}`."]
        if champion and champion.version == candidate.version:
            lines += ["", "This version is the champion already."]
    lines += [
        "",
        "Merging deploys it: Argo CD syncs `models/"
        f"{MODEL_NAME}/production`, then the registry's `production` alias follows.",
    ]
    return "\n".join(lines) + "\n"


def open_promotion(
    repo: PlatformRepo,
    reviews,
    facts: tuple[VersionFacts | None, VersionFacts | None] | None = None,
    strategy: Strategy | None = None,
    end: str | None = None,
    comparison: str | None = None,
) -> dict[str, str]:
    """Branch from main with production changed, push it, open or update the request.

    The change is a promotion of staging's release with `strategy` (replace by default), or
    `end` = "finish" / "abort" of the rollout production runs (with `comparison`, the
    predictors' figures and verdict, in the body). `facts` maps the candidate
    version to (candidate, champion) for the body; None skips the comparison. Invalid
    requests (a second rollout, nothing to finish) fail before anything is committed.
    Returns what happened, for CI logs.
    """
    repo.git("checkout", "--quiet", "-B", BRANCH, f"origin/{MAIN_BRANCH}")
    if end is None:
        strategy = strategy or Strategy()
        rollout.start(repo.path, strategy)
        release = overlay.read_release(repo.path, "staging")
        new_title = title(release, strategy)
        candidate, champion = facts if facts else (None, None)
        new_body = body(release, candidate, champion, strategy)
    else:
        ended = rollout.finish(repo.path) if end == "finish" else rollout.abort(repo.path)
        release = ended.candidate if end == "finish" else ended.stable
        verb = "Finish" if end == "finish" else "Abort"
        new_title = (
            f"{verb} the {ended.strategy.name} rollout of {MODEL_NAME} version "
            f"{ended.candidate.model_version}"
        )
        new_body = (
            f"{verb} the rollout ({ended.strategy.describe()}): production will run "
            f"**{MODEL_NAME}** version **{release.model_version}** (image `{release.image_tag}`) "
            "alone, as its `default` predictor.\n"
        )
        if comparison:
            new_body += "\n" + comparison
    changed = repo.commit(new_title, [str(Path("models") / MODEL_NAME / "production")])
    if not changed:
        return {"action": "none", "reason": "production already runs what staging runs"}
    pushed = repo.push_branch(BRANCH)
    existing = reviews.find_open(BRANCH)
    if existing is None:
        created = reviews.create(BRANCH, new_title, new_body)
        return {"action": "created", "url": created.url, "number": str(created.number)}
    if existing.title == new_title and existing.body == new_body:
        return {"action": "unchanged", "url": existing.url, "pushed": str(pushed).lower()}
    updated = reviews.update(existing.number, new_title, new_body)
    return {"action": "updated", "url": updated.url, "number": str(updated.number)}
