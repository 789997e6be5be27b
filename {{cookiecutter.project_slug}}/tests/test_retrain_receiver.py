"""Alert to retraining against a real Prefect server: one incident starts one run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.retrain_receiver import PayloadError, firing_drift_alerts
from {{ cookiecutter.package_name }}.settings import MODEL_NAME

from .probes import post
from .servers import PREFECT, free_port, start_server, stop

REPO = Path(__file__).resolve().parents[1]


def alert(fingerprint: str, status: str = "firing", **labels: str) -> dict:
    return {
        "status": status,
        "labels": {"alertname": "ModelDriftDetected", "model": MODEL_NAME, **labels},
        "annotations": {"summary": "drift"},
        "startsAt": "2026-11-27T10:00:00Z",
        "fingerprint": fingerprint,
    }


def webhook(*alerts: dict) -> dict:
    """An Alertmanager webhook message (version 4)."""
    return {"version": "4", "status": "firing", "receiver": "retrain", "groupKey": "{}",
            "groupLabels": {}, "commonLabels": {}, "alerts": list(alerts)}  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "must be a JSON object"),
        ({"alerts": "x"}, "'alerts' must be a list"),
        ({"alerts": [1]}, "alerts[0] must be an object"),
        ({"alerts": [{"labels": {}}]}, "alerts[0] needs 'status'"),
        ({"alerts": [{**alert("f"), "fingerprint": ""}]}, "alerts[0] needs its 'fingerprint'"),
    ],
)
def test_a_malformed_webhook_is_refused_naming_the_field(payload, message):
    with pytest.raises(PayloadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        firing_drift_alerts(payload)


def test_only_this_models_firing_drift_alerts_count():
    payload = webhook(alert("a"), alert("b", status="resolved"), alert("c", model="another"),
                      alert("d", alertname="ModelServerErrors"))  # fmt: skip
    assert [a["fingerprint"] for a in firing_drift_alerts(payload)] == ["a"]


def runs_tagged(api: str, tag: str) -> list:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    async def read():
        async with PrefectClient(api) as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
            )

    return asyncio.run(read())


@pytest.fixture(scope="module")
def deployed(prefect_api: str) -> str:
    """The training deployment the receiver starts, registered as CI registers it."""
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    created = subprocess.run(
        [PREFECT, "work-pool", "create", "kubernetes", "--type", "kubernetes", "--overwrite"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    result = subprocess.run(
        ["make", "--no-print-directory", "deploy-flow"], cwd=REPO,
        env={**env, "GIT_COMMIT": "receiver"}, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return prefect_api


def start_receiver(api: str, log: Path, **env: str):
    port = free_port()
    process = start_server(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "retrain-receiver"],
        log, f"http://127.0.0.1:{port}/health", timeout=120,
        env={**os.environ, "PREFECT_API_URL": api, "RETRAIN_RECEIVER_PORT": str(port), **env},
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}/alerts"


@pytest.mark.slow
def test_a_drift_alert_starts_one_training_run_per_incident(deployed, tmp_path):
    incident = uuid.uuid4().hex[:16]
    process, url = start_receiver(deployed, tmp_path / "receiver.log")
    try:
        status, body = post(url, webhook(alert(incident)))
        assert status == 200 and len(body["started"]) == 1, body
        runs = runs_tagged(deployed, f"incident:{incident}")
        assert len(runs) == 1
        assert runs[0].parameters["reason"].startswith("drift-alert ModelDriftDetected")
        assert runs[0].deployment_id is not None

        # Alertmanager repeats a firing alert: the same incident never starts a second run.
        status, body = post(url, webhook(alert(incident)))
        assert status == 200 and body["started"] == []
        skipped = {"incident": f"incident:{incident}", "reason": "already started"}
        assert body["skipped"] == [skipped]
        # A new incident inside the cool-down waits too.
        status, body = post(url, webhook(alert(incident + "-2")))
        assert body["skipped"][0]["reason"] == "cool-down"
        # Resolved alerts and bad payloads start nothing.
        assert post(url, webhook(alert(incident, status="resolved")))[1]["started"] == []
        status, body = post(url, b"not json")
        assert status == 400 and "not JSON" in body["error"]
    finally:
        stop(process)

    # A restarted receiver remembers through Prefect: still one run for the incident.
    process, url = start_receiver(deployed, tmp_path / "receiver-2.log",
                                  RETRAIN_COOLDOWN_SECONDS="0")  # fmt: skip
    try:
        status, body = post(url, webhook(alert(incident)))
        assert status == 200 and body["started"] == [], body
        assert len(runs_tagged(deployed, f"incident:{incident}")) == 1
    finally:
        stop(process)


@pytest.mark.slow
def test_an_unreachable_prefect_api_gets_a_retry_status(tmp_path):
    process, url = start_receiver(f"http://127.0.0.1:{free_port()}/api", tmp_path / "r.log")
    try:
        status, body = post(url, webhook(alert("x")))
        assert status == 502 and "Prefect API failed" in body["error"]  # Alertmanager retries
    finally:
        stop(process)
