"""Talking to the running servers over HTTP: requests, health and Prometheus scrapes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from {{ cookiecutter.package_name }}.devstack.processes import StackError, executable


def post(url: str, body: bytes | object, timeout: float = 10,
         headers: dict[str, str] | None = None) -> tuple[int, dict]:  # fmt: skip
    """POST JSON (or raw bytes); (status, decoded body) for success and HTTP errors alike."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw or b"{}")
        except ValueError:
            return error.code, {"raw": raw.decode(errors="replace")}


def get(url: str, timeout: float = 10,
        headers: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def scrape(url: str) -> str:
    status, text = get(url)
    assert status == 200, f"GET {url}: HTTP {status}: {text[:500]}"
    return text


def metric_total(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels` (e.g. over every worker)."""
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            series, value = line.rsplit(" ", 1)
            if all(label in series for label in wanted):
                total += float(value)
    return total


def tool(name: str) -> str:
    """A tool `make tools` linked into .venv/bin (else from PATH), as the local stack finds
    it, or a clear failure."""
    try:
        return executable(name)
    except StackError as error:
        pytest.fail(str(error))


def promtool() -> str:
    return tool("promtool")


def prefect_client(api: str):
    """Prefect's own client of the API at `api`, with the session's credentials (the
    `prefect_api` fixture's server refuses calls without them)."""
    import os

    from prefect.client.orchestration import PrefectClient

    return PrefectClient(api, auth_string=os.environ.get("PREFECT_API_AUTH_STRING"))
