"""Pull requests through the GitHub REST API (github.com and GitHub Enterprise)."""

from __future__ import annotations

import urllib.parse
from typing import Any, ClassVar

from . import ReviewRequest, call_api


class Provider:
    git_user: ClassVar[str] = "x-access-token"
    api_url_variable: ClassVar[str] = "GITHUB_API_URL"
    default_api_url: ClassVar[str] = "https://api.github.com"
    repository_variable: ClassVar[str] = "GITHUB_REPOSITORY"
    server_url_variable: ClassVar[str] = "GITHUB_SERVER_URL"

    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.api_url = api_url
        self.repository = repository
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def find_open(self, branch: str, base: str) -> ReviewRequest | None:
        owner = self.repository.split("/")[0]
        query = urllib.parse.urlencode({"head": f"{owner}:{branch}", "base": base, "state": "open"})
        found = self._call("GET", f"/repos/{self.repository}/pulls?{query}")
        return self._read(found[0]) if found else None

    def create(self, branch: str, base: str, title: str, body: str) -> ReviewRequest:
        created = self._call(
            "POST",
            f"/repos/{self.repository}/pulls",
            {"title": title, "head": branch, "base": base, "body": body},
        )
        return self._read(created)

    def update(self, number: int, title: str, body: str) -> ReviewRequest:
        updated = self._call(
            "PATCH", f"/repos/{self.repository}/pulls/{number}", {"title": title, "body": body}
        )
        return self._read(updated)

    def close(self, number: int) -> ReviewRequest:
        closed = self._call(
            "PATCH", f"/repos/{self.repository}/pulls/{number}", {"state": "closed"}
        )
        return self._read(closed)

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        return call_api(method, self.api_url + path, self.headers, body)

    @staticmethod
    def _read(pull: dict) -> ReviewRequest:
        return ReviewRequest(
            pull["number"], pull["html_url"], pull["title"], pull.get("body") or ""
        )
