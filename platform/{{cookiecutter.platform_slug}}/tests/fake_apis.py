"""Stand-ins for what cannot run here (GitHub, GitLab, Argo CD APIs), checking every request.

Each fake serves only the endpoints the real API has for what we call, insists on the
authentication header, records every request and answers 404/401/400 to anything else: a
client that calls a wrong path or forgets its token fails the test.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeApi:
    def __init__(self, auth_header: str, auth_value: str) -> None:
        self.auth_header = auth_header
        self.auth_value = auth_value
        self.requests: list[tuple[str, str, dict | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((self.command, self.path, body))
                if self.headers.get(fake.auth_header) != fake.auth_value:
                    return self._send(401, {"message": "Bad credentials"})
                if body is not None and self.headers.get("Content-Type") != "application/json":
                    return self._send(400, {"message": "JSON only"})
                url = urlsplit(self.path)
                status, payload = fake.route(self.command, url.path, parse_qs(url.query), body)
                return self._send(status, payload)

            do_GET = do_POST = do_PATCH = do_PUT = _serve

            def _send(self, status: int, payload) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, method: str, path: str, query: dict, body):
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeGitHub(FakeApi):
    """Issue comments of one pull request (`/repos/{owner}/{repo}/issues/...`)."""

    def __init__(self, token: str, repository: str, number: int) -> None:
        super().__init__("Authorization", f"Bearer {token}")
        self.prefix = f"/repos/{repository}/issues"
        self.number = number
        self.comments: list[dict] = [{"id": 7, "body": "looks good"}]

    def route(self, method, path, query, body):
        listing = f"{self.prefix}/{self.number}/comments"
        if method == "GET" and path == listing:
            return 200, self.comments
        if method == "POST" and path == listing and set(body) == {"body"}:
            comment = {"id": 100 + len(self.comments), "body": body["body"]}
            self.comments.append(comment)
            return 201, comment
        for comment in self.comments:
            edit = f"{self.prefix}/comments/{comment['id']}"
            if method == "PATCH" and path == edit and set(body) == {"body"}:
                comment["body"] = body["body"]
                return 200, comment
        return 404, {"message": "Not Found"}


class FakeGitLab(FakeApi):
    """Notes of one merge request (`/projects/{id}/merge_requests/{iid}/notes`)."""

    def __init__(self, token: str, project: str, iid: int) -> None:
        super().__init__("PRIVATE-TOKEN", token)
        self.notes_path = f"/projects/{project.replace('/', '%2F')}/merge_requests/{iid}/notes"
        self.notes: list[dict] = []

    def route(self, method, path, query, body):
        if method == "GET" and path == self.notes_path:
            return 200, self.notes
        if method == "POST" and path == self.notes_path and set(body) == {"body"}:
            note = {"id": 500 + len(self.notes), "body": body["body"]}
            self.notes.append(note)
            return 201, note
        for note in self.notes:
            if method == "PUT" and path == f"{self.notes_path}/{note['id']}":
                note["body"] = body["body"]
                return 200, note
        return 404, {"message": "404 Not found"}


class FakeArgoCd(FakeApi):
    """GET /api/v1/applications/{name}: states scripted per application, one per request.

    `states[name]` is a list of (sync status, revision, health); each request with
    `refresh=normal` takes the next one (the last one repeats). `on_request` runs before
    each answer, so a test can look at the registry while Argo CD is still syncing.
    """

    def __init__(self, token: str) -> None:
        super().__init__("Authorization", f"Bearer {token}")
        self.states: dict[str, list[tuple[str, str, str]]] = {}
        self.on_request = None

    def route(self, method, path, query, body):
        prefix = "/api/v1/applications/"
        name = path.removeprefix(prefix)
        if method != "GET" or not path.startswith(prefix) or name not in self.states:
            return 404, {"error": "application not found", "code": 5}
        if query.get("refresh") != ["normal"]:
            return 400, {"error": "expected refresh=normal"}
        if self.on_request:
            self.on_request(name)
        script = self.states[name]
        sync, revision, health = script.pop(0) if len(script) > 1 else script[0]
        return 200, {
            "metadata": {"name": name, "namespace": "argocd"},
            "status": {
                "sync": {"status": sync, "revision": revision},
                "health": {"status": health},
            },
        }


class FakeGitHubPulls(FakeApi):
    """Pull requests of one repository (`/repos/{owner}/{repo}/pulls`), as GitHub answers."""

    def __init__(self, token: str, repository: str) -> None:
        super().__init__("Authorization", f"Bearer {token}")
        self.repository, self.pulls = repository, []
        self.base = f"/repos/{repository}/pulls"

    def route(self, method, path, query, body):
        owner = self.repository.split("/")[0]
        if method == "GET" and path == self.base:
            head = query.get("head", [""])[0]
            if not head.startswith(f"{owner}:"):
                return 422, {"message": "head must be OWNER:BRANCH"}
            return 200, [
                p
                for p in self.pulls
                if p["head"]["ref"] == head.split(":", 1)[1]
                and p["state"] == query.get("state", ["open"])[0]
                and p["base"]["ref"] == query.get("base", [p["base"]["ref"]])[0]
            ]
        if method == "POST" and path == self.base:
            if set(body) != {"title", "head", "base", "body"}:
                return 422, {"message": "Validation Failed"}
            if self.open_from(body["head"]):
                return 422, {"message": "A pull request already exists"}
            number = len(self.pulls) + 1
            pull = {
                "number": number,
                "state": "open",
                "title": body["title"],
                "body": body["body"],
                "head": {"ref": body["head"]},
                "base": {"ref": body["base"]},
                "html_url": f"https://github.example/{self.repository}/pull/{number}",
            }
            self.pulls.append(pull)
            return 201, pull
        pull = next((p for p in self.pulls if path == f"{self.base}/{p['number']}"), None)
        if method == "PATCH" and pull is not None:
            if not set(body) <= {"title", "body", "state"} or body.get("state", "open") not in (
                "open",
                "closed",
            ):
                return 422, {"message": "Validation Failed"}
            pull.update(body)
            return 200, pull
        return 404, {"message": "Not Found"}

    def open_from(self, branch: str) -> list[dict]:
        return [p for p in self.pulls if p["head"]["ref"] == branch and p["state"] == "open"]

    def seen(self) -> list[tuple[str, str, str]]:
        """Every pull request as (state, title, body), oldest first."""
        return [(p["state"], p["title"], p["body"]) for p in self.pulls]


class FakeGitLabMerges(FakeApi):
    """Merge requests of one project (`/projects/{id}/merge_requests`), as GitLab answers."""

    def __init__(self, token: str, project: str) -> None:
        super().__init__("PRIVATE-TOKEN", token)
        self.project, self.merges = project, []
        self.base = f"/projects/{project.replace('/', '%2F')}/merge_requests"

    def route(self, method, path, query, body):
        if method == "GET" and path == self.base:
            return 200, [
                m
                for m in self.merges
                if m["source_branch"] == query.get("source_branch", [None])[0]
                and m["target_branch"] == query.get("target_branch", [None])[0]
                and m["state"] == query.get("state", [None])[0]
            ]
        if method == "POST" and path == self.base:
            if not {"source_branch", "target_branch", "title"} <= set(body):
                return 400, {"message": "source_branch, target_branch, title are required"}
            if any(
                m["source_branch"] == body["source_branch"] and m["state"] == "opened"
                for m in self.merges
            ):
                return 409, {"message": ["Another open merge request already exists"]}
            iid = len(self.merges) + 1
            merge = {
                "iid": iid,
                "state": "opened",
                **body,
                "web_url": f"https://gitlab.example/{self.project}/-/merge_requests/{iid}",
            }
            self.merges.append(merge)
            return 201, merge
        merge = next((m for m in self.merges if path == f"{self.base}/{m['iid']}"), None)
        if method == "PUT" and merge is not None:
            fields = dict(body)
            event = fields.pop("state_event", None)
            if not set(fields) <= {"title", "description"} or event not in (None, "close"):
                return 400, {"message": "invalid fields"}
            merge.update(fields)
            if event == "close":
                merge["state"] = "closed"
            return 200, merge
        return 404, {"message": "404 Not found"}

    def seen(self) -> list[tuple[str, str, str]]:
        """Every merge request as (state, title, description), oldest first."""
        state = {"opened": "open", "closed": "closed"}
        return [(state[m["state"]], m["title"], m.get("description", "")) for m in self.merges]
