"""Merge requests through the GitLab REST API (v4; gitlab.com and self-managed GitLab)."""

from __future__ import annotations

import urllib.parse
from typing import Any, ClassVar

from . import ReviewRequest, call_api


class Provider:
    git_user: ClassVar[str] = "oauth2"
    api_url_variable: ClassVar[str] = "CI_API_V4_URL"
    default_api_url: ClassVar[str] = "https://gitlab.com/api/v4"
    repository_variable: ClassVar[str] = "CI_PROJECT_PATH"
    server_url_variable: ClassVar[str] = "CI_SERVER_URL"

    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.api_url = api_url
        self.project = urllib.parse.quote(repository, safe="")
        self.headers = {"PRIVATE-TOKEN": token}

    def find_open(self, branch: str, base: str) -> ReviewRequest | None:
        query = urllib.parse.urlencode(
            {"source_branch": branch, "target_branch": base, "state": "opened"}
        )
        found = self._call("GET", f"/projects/{self.project}/merge_requests?{query}")
        return self._read(found[0]) if found else None

    def create(self, branch: str, base: str, title: str, body: str) -> ReviewRequest:
        created = self._call(
            "POST",
            f"/projects/{self.project}/merge_requests",
            {
                "source_branch": branch,
                "target_branch": base,
                "title": title,
                "description": body,
                "remove_source_branch": True,
            },
        )
        return self._read(created)

    def update(self, number: int, title: str, body: str) -> ReviewRequest:
        updated = self._call(
            "PUT",
            f"/projects/{self.project}/merge_requests/{number}",
            {"title": title, "description": body},
        )
        return self._read(updated)

    def close(self, number: int) -> ReviewRequest:
        closed = self._call(
            "PUT",
            f"/projects/{self.project}/merge_requests/{number}",
            {"state_event": "close"},
        )
        return self._read(closed)

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        return call_api(method, self.api_url + path, self.headers, body)

    @staticmethod
    def _read(merge: dict) -> ReviewRequest:
        return ReviewRequest(
            merge["iid"], merge["web_url"], merge["title"], merge.get("description") or ""
        )
