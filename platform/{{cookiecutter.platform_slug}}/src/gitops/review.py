"""The forge's pull requests (GitHub) or merge requests (GitLab): the rendered diff as a
comment on one, and the requests this repo proposes to itself (the template update).

One diff comment per request, found again by a marker and updated in place, so a busy pull
request does not collect a diff per push. The token goes only into the Authorization
header (never a URL or a message).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, ClassVar

from . import PlatformError
from .diff import MARKER


class Api:
    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = headers

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base_url}{path}", data=data, method=method,
            headers={**self.headers, "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise PlatformError(f"{method} {path}: HTTP {error.code} {error.reason}") from None
        except OSError as error:
            raise PlatformError(f"{method} {path}: {error}") from None


def upsert_github(api_url: str, repository: str, number: int, token: str, body: str) -> str:
    api = Api(api_url, {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    })  # fmt: skip
    comments = api.call("GET", f"/repos/{repository}/issues/{number}/comments?per_page=100")
    mine = next((c for c in comments if MARKER in c.get("body", "")), None)
    if mine is None:
        api.call("POST", f"/repos/{repository}/issues/{number}/comments", {"body": body})
        return "created"
    if mine["body"] == body:
        return "unchanged"
    api.call("PATCH", f"/repos/{repository}/issues/comments/{mine['id']}", {"body": body})
    return "updated"


def upsert_gitlab(api_url: str, project: str, iid: int, token: str, body: str) -> str:
    api = Api(api_url, {"PRIVATE-TOKEN": token})
    base = f"/projects/{urllib.parse.quote(project, safe='')}/merge_requests/{iid}/notes"
    notes = api.call("GET", f"{base}?per_page=100")
    mine = next((n for n in notes if MARKER in n.get("body", "")), None)
    if mine is None:
        api.call("POST", base, {"body": body})
        return "created"
    if mine["body"] == body:
        return "unchanged"
    api.call("PUT", f"{base}/{mine['id']}", {"body": body})
    return "updated"


# -- requests this repo opens on itself ------------------------------------------------------
@dataclass(frozen=True)
class Request:
    number: int
    url: str
    title: str
    body: str


class GitHubPulls:
    """Pull requests of one repository (REST, API version 2022-11-28)."""

    git_user: ClassVar[str] = "x-access-token"  # the user name git sends with the token
    # What Actions sets: the API root, this repo's OWNER/NAME and the server's web root.
    api_url_variable, default_api_url = "GITHUB_API_URL", "https://api.github.com"
    repository_variable, server_url_variable = "GITHUB_REPOSITORY", "GITHUB_SERVER_URL"

    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.repository = repository
        self.api = Api(api_url, {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        })  # fmt: skip

    def find_open(self, branch: str, base: str) -> Request | None:
        owner = self.repository.split("/")[0]
        query = urllib.parse.urlencode({"head": f"{owner}:{branch}", "base": base, "state": "open"})
        found = self.api.call("GET", f"/repos/{self.repository}/pulls?{query}")
        return self._read(found[0]) if found else None

    def create(self, branch: str, base: str, title: str, body: str) -> Request:
        sent = {"title": title, "head": branch, "base": base, "body": body}
        return self._read(self.api.call("POST", f"/repos/{self.repository}/pulls", sent))

    def update(self, number: int, title: str, body: str) -> Request:
        return self._edit(number, {"title": title, "body": body})

    def close(self, number: int) -> Request:
        return self._edit(number, {"state": "closed"})

    def _edit(self, number: int, fields: dict) -> Request:
        return self._read(
            self.api.call("PATCH", f"/repos/{self.repository}/pulls/{number}", fields)
        )

    @staticmethod
    def _read(pull: dict) -> Request:
        return Request(pull["number"], pull["html_url"], pull["title"], pull.get("body") or "")


class GitLabMerges:
    """Merge requests of one project (REST v4)."""

    git_user: ClassVar[str] = "oauth2"
    api_url_variable, default_api_url = "CI_API_V4_URL", "https://gitlab.com/api/v4"
    repository_variable, server_url_variable = "CI_PROJECT_PATH", "CI_SERVER_URL"

    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.base = f"/projects/{urllib.parse.quote(repository, safe='')}/merge_requests"
        self.api = Api(api_url, {"PRIVATE-TOKEN": token})

    def find_open(self, branch: str, base: str) -> Request | None:
        query = urllib.parse.urlencode(
            {"source_branch": branch, "target_branch": base, "state": "opened"}
        )
        found = self.api.call("GET", f"{self.base}?{query}")
        return self._read(found[0]) if found else None

    def create(self, branch: str, base: str, title: str, body: str) -> Request:
        sent = {"source_branch": branch, "target_branch": base, "title": title,
                "description": body, "remove_source_branch": True}  # fmt: skip
        return self._read(self.api.call("POST", self.base, sent))

    def update(self, number: int, title: str, body: str) -> Request:
        return self._edit(number, {"title": title, "description": body})

    def close(self, number: int) -> Request:
        return self._edit(number, {"state_event": "close"})

    def _edit(self, number: int, fields: dict) -> Request:
        return self._read(self.api.call("PUT", f"{self.base}/{number}", fields))

    @staticmethod
    def _read(merge: dict) -> Request:
        return Request(
            merge["iid"], merge["web_url"], merge["title"], merge.get("description") or ""
        )


FORGES = {"github": GitHubPulls, "gitlab": GitLabMerges}
