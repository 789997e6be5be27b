"""The GitHub pull request API as delivery and promotion use it (REST, version 2022-11-28)."""

from __future__ import annotations

from typing import Any

from .base import FakeReviewApi, Recorded, Seen


class Fake(FakeReviewApi):
    def check_credentials(self, headers: dict[str, str]) -> str | None:
        if headers.get("authorization") != f"Bearer {self.token}":
            return "Bad credentials"
        if headers.get("accept") != "application/vnd.github+json":
            return "missing Accept: application/vnd.github+json"
        if headers.get("x-github-api-version") != "2022-11-28":
            return "missing X-GitHub-Api-Version"
        if not headers.get("user-agent"):  # GitHub refuses requests without one
            return "missing User-Agent"
        return None

    def route(self, request: Recorded) -> tuple[int, Any]:
        base = f"/repos/{self.repository}/pulls"
        if request.method == "GET" and request.path == base:
            owner = self.repository.split("/")[0]
            head = request.query.get("head", "")
            if not head.startswith(f"{owner}:"):
                return 422, {"message": "head must be OWNER:BRANCH"}
            branch = head.split(":", 1)[1]
            return 200, [
                p
                for p in self.reviews
                if p["head"]["ref"] == branch
                and p["state"] == request.query.get("state", "open")
                and p["base"]["ref"] == request.query.get("base", p["base"]["ref"])
            ]
        if request.method == "POST" and request.path == base:
            missing = {"title", "head", "base", "body"} - set(request.body or {})
            if missing:
                return 422, {"message": f"missing {sorted(missing)}"}
            if any(
                p["head"]["ref"] == request.body["head"] and p["state"] == "open"
                for p in self.reviews
            ):
                return 422, {"message": "A pull request already exists"}
            number = len(self.reviews) + 1
            pull = {
                "number": number,
                "state": "open",
                "title": request.body["title"],
                "body": request.body["body"],
                "head": {"ref": request.body["head"]},
                "base": {"ref": request.body["base"]},
                "html_url": f"https://github.example/{self.repository}/pull/{number}",
            }
            self.reviews.append(pull)
            return 201, pull
        if request.method == "PATCH" and request.path.startswith(base + "/"):
            pull = self.find("number", request.path.rsplit("/", 1)[1])
            if pull is None:
                return 404, {"message": "Not Found"}
            unknown = set(request.body or {}) - {"title", "body", "state", "base"}
            if unknown:
                return 422, {"message": f"unknown fields {sorted(unknown)}"}
            if request.body.get("state", "open") not in ("open", "closed"):
                return 422, {"message": "state must be open or closed"}
            pull.update(request.body)
            return 200, pull
        return 404, {"message": "Not Found"}

    def seen(self, review: dict) -> Seen:
        return Seen(review["title"], review.get("body") or "", review["state"] == "open",
                    review["head"]["ref"])  # fmt: skip

    def merge(self, index: int = -1) -> None:
        self.reviews[index].update(state="closed", merged=True)
