"""The GitLab merge request API as delivery and promotion use it (REST v4)."""

from __future__ import annotations

import urllib.parse
from typing import Any, ClassVar

from .base import FakeReviewApi, Recorded, Seen


class Fake(FakeReviewApi):
    prefix: ClassVar[str] = "/api/v4"

    def check_credentials(self, headers: dict[str, str]) -> str | None:
        if headers.get("private-token") != self.token:
            return "401 Unauthorized"
        return None

    def route(self, request: Recorded) -> tuple[int, Any]:
        project = urllib.parse.quote(self.repository, safe="")
        base = f"/api/v4/projects/{project}/merge_requests"
        if request.method == "GET" and request.path == base:
            return 200, [
                m
                for m in self.reviews
                if m["source_branch"] == request.query.get("source_branch")
                and m["state"] == request.query.get("state")
                and m["target_branch"] == request.query.get("target_branch", m["target_branch"])
            ]
        if request.method == "POST" and request.path == base:
            missing = {"source_branch", "target_branch", "title"} - set(request.body or {})
            if missing:
                return 400, {"message": f"{sorted(missing)} is missing"}
            if any(
                m["source_branch"] == request.body["source_branch"] and m["state"] == "opened"
                for m in self.reviews
            ):
                return 409, {"message": ["Another open merge request already exists"]}
            iid = len(self.reviews) + 1
            merge = {
                "iid": iid,
                "state": "opened",
                **request.body,
                "web_url": f"https://gitlab.example/{self.repository}/-/merge_requests/{iid}",
            }
            self.reviews.append(merge)
            return 201, merge
        if request.method == "PUT" and request.path.startswith(base + "/"):
            merge = self.find("iid", request.path.rsplit("/", 1)[1])
            if merge is None:
                return 404, {"message": "404 Not found"}
            body = dict(request.body or {})
            unknown = set(body) - {"title", "description", "state_event"}
            if unknown:
                return 400, {"message": f"unknown fields {sorted(unknown)}"}
            event = body.pop("state_event", None)
            if event not in (None, "close", "reopen"):
                return 400, {"error": "state_event does not have a valid value"}
            merge.update(body)
            if event is not None and merge["state"] != "merged":
                merge["state"] = "closed" if event == "close" else "opened"
            return 200, merge
        return 404, {"message": "404 Not found"}

    def seen(self, review: dict) -> Seen:
        return Seen(review["title"], review.get("description") or "",
                    review["state"] == "opened", review["source_branch"])  # fmt: skip

    def merge(self, index: int = -1) -> None:
        self.reviews[index]["state"] = "merged"
