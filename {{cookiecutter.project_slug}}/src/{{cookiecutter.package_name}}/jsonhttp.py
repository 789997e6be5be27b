"""JSON over HTTP for every client in this package: the model server, the review APIs,
Prometheus, health endpoints. One call with a timeout, headers and a bounded answer; every
failure is an HttpError naming the method, the URL and the status or the reason.

Standard library only: settings-level code (the registry check, the CLI) uses it too.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

# Answers larger than this are refused: every answer this package reads is a few KiB
# (a Prometheus query over one model's series, a page of pull requests).
MAX_ANSWER_BYTES = 8 << 20
# How much of an error answer an HttpError keeps (the API's own explanation, usually).
DETAIL_CHARS = 500


def basic_authorization(credentials: str) -> dict[str, str]:
    """The Authorization header of HTTP basic authentication for `user:password`."""
    return {"Authorization": f"Basic {base64.b64encode(credentials.encode()).decode()}"}


class HttpError(RuntimeError):
    """A call gave no usable answer. `reason` says why in a few words ("HTTP 404", "no answer:
    timed out", "the answer is not JSON"); `status` is the HTTP status of an error answer (None
    when nothing answered or the answer was unusable) and `detail` the start of its body."""

    def __init__(
        self, method: str, url: str, reason: str, status: int | None = None, detail: str = ""
    ) -> None:
        self.method, self.url, self.reason = method, url, reason
        self.status, self.detail = status, detail
        super().__init__(f"{method} {url}: {reason}" + (f": {detail}" if detail else ""))


def request_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    limit: int = MAX_ANSWER_BYTES,
) -> Any:
    """Send `body` as JSON (none if None); return the decoded answer (None if it is empty)."""
    sent = {"Accept": "application/json", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    status, raw = _send(method, url, data, sent, timeout, limit)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise HttpError(method, url, f"HTTP {status}: the answer is not JSON") from None


def status_of(url: str, timeout: float = 2.0) -> int:
    """The HTTP status a GET of `url` gets (error statuses included): a health check.
    Raises HttpError only when nothing answers in time."""
    try:
        return _send("GET", url, None, {}, timeout, limit=None)[0]
    except HttpError as error:
        if error.status is None:
            raise
        return error.status


def _send(
    method: str,
    url: str,
    data: bytes | None,
    headers: dict[str, str],
    timeout: float,
    limit: int | None,  # None: the answer's body is not read
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(limit + 1) if limit is not None else b""
            status = response.status
    except urllib.error.HTTPError as error:
        with error:
            try:
                detail = error.read(DETAIL_CHARS).decode(errors="replace").strip()
            except (OSError, http.client.HTTPException):
                detail = ""
        raise HttpError(method, url, f"HTTP {error.code}", error.code, detail) from None
    except urllib.error.URLError as error:
        raise HttpError(method, url, f"no answer: {error.reason}") from None
    except (OSError, http.client.HTTPException) as error:  # timeouts, resets, broken answers
        raise HttpError(method, url, f"no answer: {error or type(error).__name__}") from None
    except ValueError as error:  # not a URL urllib can open
        raise HttpError(method, url, f"not a usable URL: {error}") from None
    if limit is not None and len(raw) > limit:
        raise HttpError(method, url, f"HTTP {status}: the answer is over {limit} bytes")
    return status, raw
