"""Post the rendered diff on the pull request (GitHub) or merge request (GitLab).

One comment per request, found again by a marker and updated in place, so a busy pull
request does not collect a diff per push. The token goes only into the Authorization
header (never a URL or a message).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

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
