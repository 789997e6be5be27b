"""A shadow rollout's copy of requests, between two real model servers: production's server
(MIRROR_URL set, as a shadow rollout sets it) copies each request it answers to
the candidate's server, which logs its own prediction under the same request id; a candidate
that is down costs production's clients nothing. And the copier alone, against a real HTTP
receiver: memory bounded by bytes, only the features sent, senders that outlive errors."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from {{ cookiecutter.package_name }}.data import FEATURES, sample_rows
from {{ cookiecutter.package_name }}.devstack import services
from {{ cookiecutter.package_name }}.devstack.processes import Started, free_port
from {{ cookiecutter.package_name }}.runtimes import protocol
from {{ cookiecutter.package_name }}.runtimes.mlserver import mirror, open_inference
from {{ cookiecutter.package_name }}.settings import load_settings

from ...probes import metric_total, post, scrape

NAMES = list(FEATURES)
ROWS = sample_rows(2, seed=11).to_numpy().tolist()


def start(state_dir, name: str, **env: str) -> tuple[Started, str, str]:
    http, grpc, metrics = free_port(), free_port(), free_port()
    server = services.model_server(http, grpc, metrics).run(
        state_dir / f"{name}.log", env={**os.environ, **env}
    )
    return server, services.local_url(http), f"{services.local_url(metrics)}/metrics"


@pytest.fixture
def shadow_pair(trained, kafka, state_dir) -> Iterator[dict]:
    candidate, candidate_url, candidate_metrics = start(state_dir, "candidate",
                                                        PREDICTOR_ID="candidate")  # fmt: skip
    production, url, metrics = start(
        state_dir, "production", MIRROR_URL=f"{candidate_url}{protocol.PREDICT_PATH}"
    )
    yield {"candidate": candidate, "candidate_metrics": candidate_metrics,
           "production": production, "url": url, "metrics": metrics}  # fmt: skip
    production.stop()
    candidate.stop()


def mirrored(metrics_url: str, outcome: str) -> float:
    return metric_total(scrape(metrics_url), "model_mirrored_requests_total", outcome=outcome)


def wait_for(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_each_answered_request_is_copied_and_a_candidate_down_costs_nothing(shadow_pair, kafka):
    ids = [f"shadow-{uuid.uuid4().hex}" for _ in range(12)]
    for request_id in ids:
        status, body = predict(shadow_pair, request_id)
        assert status == 200, body
        assert body["parameters"]["predictor"] == "default"
    # A request production refuses is not copied: the candidate would refuse it too.
    status, _ = post(f"{shadow_pair['url']}{protocol.PREDICT_PATH}", {"inputs": []})
    assert status == 400
    assert wait_for(lambda: mirrored(shadow_pair["metrics"], "sent") == len(ids))
    assert mirrored(shadow_pair["metrics"], "failed") == 0
    text = scrape(shadow_pair["candidate_metrics"])
    assert metric_total(text, "model_requests_total", predictor="candidate") == len(ids)
    # Both predictions of each request reach the request log, told apart by predictor.
    topic, seen = load_settings().request_topic, {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(seen) < 2 * len(ids):
        for message in kafka.read(topic, timeout=2):
            body = json.loads(message.value)
            if body["request_id"] in ids:
                seen[(body["request_id"], body["predictor"])] = body
    assert sorted(seen) == sorted((i, p) for i in ids for p in ("candidate", "default"))

    # The candidate goes away: production answers as fast as ever, the copies fail.
    shadow_pair["candidate"].stop()
    started = time.monotonic()
    for _ in range(8):
        status, body = predict(shadow_pair)
        assert status == 200, body
    assert time.monotonic() - started < mirror.TIMEOUT_SECONDS, "answers never wait for a copy"
    assert wait_for(lambda: mirrored(shadow_pair["metrics"], "failed") == 8)
    assert mirrored(shadow_pair["metrics"], "sent") == len(ids)


def predict(pair: dict, request_id: str | None = None) -> tuple[int, dict]:
    return post(f"{pair['url']}{protocol.PREDICT_PATH}",
                protocol.request_body(ROWS, NAMES, request_id))  # fmt: skip


@pytest.mark.parametrize("value", ["candidate:8080", "ftp://host/v2/models/m/infer", "http://host"])
def test_a_mirror_url_that_is_not_a_predict_url_is_named(monkeypatch, value):
    monkeypatch.setenv("MIRROR_URL", value)
    with pytest.raises(mirror.MirrorError, match=r"MIRROR_URL=.*predict endpoint"):
        mirror.url_from_environment()
    monkeypatch.setenv("MIRROR_URL", " ")
    assert mirror.url_from_environment() is None


def outcome(predictor: str, name: str) -> float:
    value = REGISTRY.get_sample_value(
        "model_mirrored_requests_total", {"model": "m", "predictor": predictor, "outcome": name}
    )
    return value or 0.0


def test_queued_copies_are_bounded_by_the_bytes_they_hold():
    """A few large requests must not hold the queue's count of them: 256 requests of 4 MiB
    parsed would be gigabytes in a pod sized for serving."""
    copies = mirror.RequestMirror("http://127.0.0.1:9/v2/models/m/infer",
                                  {"model": "m", "predictor": "bytes"})  # fmt: skip
    third = np.zeros((mirror.QUEUE_BYTES // 8 // 4 // 3, 4))  # a third of the bound
    for index in range(5):
        copies.copy(third, f"r{index}")
    assert copies.queue.qsize() == 3 and copies.held_bytes == 3 * third.nbytes
    assert copies.held_bytes <= mirror.QUEUE_BYTES
    assert outcome("bytes", "dropped") == 2
    # Small requests still fit beside them, up to the count bound.
    copies.copy(np.zeros((1, 4)), "small")
    assert copies.queue.qsize() == 4


def test_a_copy_is_the_features_alone_and_decodes_to_the_same_matrix():
    matrix = np.array(ROWS, dtype=float)
    body = json.loads(mirror.body(matrix, "req-1"))
    assert sorted(body) == ["id", "inputs"], "no caller headers or parameters travel"
    assert body["id"] == "req-1"
    rows, names, form = open_inference.decode(body)
    assert names is None and form == "tensor"
    assert np.array_equal(np.asarray(rows, dtype=float), matrix)


def test_senders_outlive_an_unexpected_error_and_close_cleanly(monkeypatch):
    """One copy whose body cannot be built (any error, not only the network's) is counted
    as failed; the senders go on with the next copies, and closing does not raise."""
    received: list[tuple[dict, dict]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.json()))
        return web.json_response({"id": "ok"})

    real_body, calls = mirror.body, []

    def body_failing_once(matrix, request_id):
        calls.append(request_id)
        if len(calls) == 1:
            raise RuntimeError("a bug in building the body")
        return real_body(matrix, request_id)

    monkeypatch.setattr(mirror, "body", body_failing_once)

    async def scenario() -> mirror.RequestMirror:
        app = web.Application()
        app.router.add_post("/v2/models/m/infer", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        copies = mirror.RequestMirror(f"http://127.0.0.1:{port}/v2/models/m/infer",
                                      {"model": "m", "predictor": "errors"})  # fmt: skip
        copies.start()
        for index in range(mirror.SENDERS + 2):  # more than one round of every sender
            copies.copy(np.array(ROWS, dtype=float), f"r{index}")
        deadline = time.monotonic() + 10
        while len(received) < mirror.SENDERS + 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await copies.close()
        await runner.cleanup()
        return copies

    copies = asyncio.run(scenario())
    assert outcome("errors", "failed") == 1
    assert outcome("errors", "sent") == mirror.SENDERS + 1
    assert sorted(b["id"] for _, b in received) == [f"r{i}" for i in range(1, mirror.SENDERS + 2)]
    assert all("Authorization" not in headers for headers, _ in received)
    assert copies.held_bytes == 0 and all(task.done() for task in copies._tasks)
