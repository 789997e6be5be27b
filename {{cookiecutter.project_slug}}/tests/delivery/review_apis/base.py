"""What every review API stand-in shares: an HTTP server on 127.0.0.1 that records each
request, refuses bad credentials and malformed calls as the real API does (401, 404, 422...)
and answers with the fields the real API returns. Each provider's module says how."""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Seen:
    """A stored pull/merge request, as the tests read it whatever the provider."""

    title: str
    body: str
    open: bool
    branch: str  # the request's source branch


class FakeReviewApi:
    prefix: ClassVar[str] = ""  # the API root's path on its host

    def __init__(self, repository: str, token: str) -> None:
        self.repository = repository
        self.token = token
        self.requests: list[Recorded] = []
        self.reviews: list[dict] = []  # as the provider stores them
        self.problems: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.prefix}"

    def __enter__(self) -> FakeReviewApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if method is None or r.method == method]

    # -- what each provider defines -------------------------------------------------------
    def check_credentials(self, headers: dict[str, str]) -> str | None:
        """The API's refusal for these (lower-cased) headers, or None."""
        raise NotImplementedError

    def route(self, request: Recorded) -> tuple[int, Any]:
        """Status and JSON answer for an authenticated request."""
        raise NotImplementedError

    def seen(self, review: dict) -> Seen:
        raise NotImplementedError

    def merge(self, index: int = -1) -> None:
        """What a reviewer's merge does to the stored request (it is no longer open)."""
        raise NotImplementedError

    # -- the tests' view ------------------------------------------------------------------
    def review(self, index: int = -1) -> Seen:
        return self.seen(self.reviews[index])

    def from_branch(self, branch: str) -> list[Seen]:
        """Every request from `branch`, oldest first, open or not."""
        return [self.seen(r) for r in self.reviews if self.seen(r).branch == branch]

    def open_index(self, branch: str) -> int:
        """The index of the open request from `branch` (there is at most one)."""
        found = [i for i, r in enumerate(self.reviews) if self.seen(r).open
                 and self.seen(r).branch == branch]  # fmt: skip
        assert len(found) == 1, f"{len(found)} open requests from {branch}"
        return found[0]

    def answer(self, request: Recorded) -> tuple[int, Any]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        problem = self.check_credentials(headers)
        sent_json = request.body is None or headers.get("content-type") == "application/json"
        if problem is None and not sent_json:
            problem = "the body must be JSON"
        if problem:
            self.problems.append(problem)
            return 401, {"message": problem}
        return self.route(request)

    def find(self, key: str, value: str) -> dict | None:
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
