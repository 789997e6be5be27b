"""A local stand-in for the GitHub and GitLab pull/merge request APIs (a contract test).

It checks what the real APIs require of each call (method, path, authentication and
version headers, JSON body fields) and answers with the fields the real APIs return. A
request it does not recognise gets 404 and a malformed one 422, as the real APIs would,
and every request is recorded for the tests to inspect.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeReviewApi:
    provider: str  # "github" or "gitlab"
    repository: str
    token: str
    requests: list[Recorded] = field(default_factory=list)
    reviews: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        root = f"http://127.0.0.1:{self.server.server_address[1]}"
        return root if self.provider == "github" else f"{root}/api/v4"

    def __enter__(self) -> FakeReviewApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if method is None or r.method == method]

    # -- the API ------------------------------------------------------------------------
    def answer(self, request: Recorded) -> tuple[int, Any]:
        problem = self._check_headers(request)
        if problem:
            self.problems.append(problem)
            return 401, {"message": problem}
        if self.provider == "github":
            return self._github(request)
        return self._gitlab(request)

    def _check_headers(self, request: Recorded) -> str | None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if self.provider == "github":
            if headers.get("authorization") != f"Bearer {self.token}":
                return "Bad credentials"
            if headers.get("accept") != "application/vnd.github+json":
                return "missing Accept: application/vnd.github+json"
            if headers.get("x-github-api-version") != "2022-11-28":
                return "missing X-GitHub-Api-Version"
        elif headers.get("private-token") != self.token:
            return "401 Unauthorized"
        if request.body is not None and headers.get("content-type") != "application/json":
            return "the body must be JSON"
        return None

    def _github(self, request: Recorded) -> tuple[int, Any]:
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
                if p["head"]["ref"] == branch and p["state"] == request.query.get("state", "open")
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
            pull = self._find("number", request.path.rsplit("/", 1)[1])
            if pull is None:
                return 404, {"message": "Not Found"}
            unknown = set(request.body or {}) - {"title", "body", "state", "base"}
            if unknown:
                return 422, {"message": f"unknown fields {sorted(unknown)}"}
            pull.update(request.body)
            return 200, pull
        return 404, {"message": "Not Found"}

    def _gitlab(self, request: Recorded) -> tuple[int, Any]:
        project = urllib.parse.quote(self.repository, safe="")
        base = f"/api/v4/projects/{project}/merge_requests"
        if request.method == "GET" and request.path == base:
            return 200, [
                m
                for m in self.reviews
                if m["source_branch"] == request.query.get("source_branch")
                and m["state"] == request.query.get("state")
            ]
        if request.method == "POST" and request.path == base:
            missing = {"source_branch", "target_branch", "title"} - set(request.body or {})
            if missing:
                return 400, {"message": f"{sorted(missing)} is missing"}
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
            merge = self._find("iid", request.path.rsplit("/", 1)[1])
            if merge is None:
                return 404, {"message": "404 Not found"}
            merge.update(request.body)
            return 200, merge
        return 404, {"message": "404 Not found"}

    def _find(self, key: str, value: str) -> dict | None:
        return next((r for r in self.reviews if str(r[key]) == value), None)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = {"unparseable": raw.decode(errors="replace")}
                request = Recorded(
                    self.command,
                    parsed.path,
                    dict(urllib.parse.parse_qsl(parsed.query)),
                    dict(self.headers.items()),
                    body,
                )
                api.requests.append(request)
                status, answer = api.answer(request)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
