"""A shadow rollout's copy of requests, between two real model servers: production's server
(MIRROR_URL set, as a KServe shadow rollout sets it) copies each request it answers to
the candidate's server, which logs its own prediction under the same request id; a candidate
that is down costs production's clients nothing."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest

from {{ cookiecutter.package_name }}.data import FEATURES, sample_rows
from {{ cookiecutter.package_name }}.devstack import services
from {{ cookiecutter.package_name }}.devstack.processes import Started, free_port
from {{ cookiecutter.package_name }}.runtimes import protocol
from {{ cookiecutter.package_name }}.runtimes.mlserver import mirror
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
