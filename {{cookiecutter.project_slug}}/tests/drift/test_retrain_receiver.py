"""Alert to retraining against a real Prefect server and a real Alertmanager: one incident
starts one run, a repeat starts none, the next firing after the cool-down starts the next."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.devstack import services
from {{ cookiecutter.package_name }}.devstack.processes import Started, executable, free_port
from {{ cookiecutter.package_name }}.retrain_receiver import (
    PayloadError,
    firing_retrain_alerts,
    incident_of,
)
from {{ cookiecutter.package_name }}.settings import MODEL_NAME

from ..probes import get, post, prefect_client

REPO = Path(__file__).resolve().parents[2]


def alert(fingerprint: str, status: str = "firing", starts_at: str = "2026-11-27T10:00:00Z",
          **labels: str) -> dict:  # fmt: skip
    return {
        "status": status,
        "labels": {"alertname": "ModelDriftDetected", "model": MODEL_NAME, **labels},
        "annotations": {"summary": "drift"},
        "startsAt": starts_at,
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
        ({"alerts": [alert("f", starts_at="")]}, "alerts[0] needs 'startsAt'"),
        ({"alerts": [alert("f", starts_at="yesterday")]}, "alerts[0] needs 'startsAt'"),
    ],
)
def test_a_malformed_webhook_is_refused_naming_the_field(payload, message):
    with pytest.raises(PayloadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        firing_retrain_alerts(payload)


def test_an_incident_is_the_fingerprint_and_when_it_started_firing():
    first = incident_of(alert("f", starts_at="2026-11-27T10:00:00.123456789Z"))
    assert first == "incident:f@20261127T100000Z"
    assert incident_of(alert("f", starts_at="2026-11-27T11:00:00.123456789+01:00")) == first
    assert incident_of(alert("f", starts_at="2026-11-27T10:20:00Z")) != first  # fired again


def test_only_this_models_firing_retrain_alerts_count():
    payload = webhook(alert("a"), alert("b", status="resolved"), alert("c", model="another"),
                      alert("d", alertname="ModelServerErrors"),
                      alert("e", alertname="ModelQualityDegraded"))  # fmt: skip
    assert [a["fingerprint"] for a in firing_retrain_alerts(payload)] == ["a", "e"]


def runs_tagged(api: str, tag: str) -> list:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    async def read():
        async with prefect_client(api) as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
            )

    return asyncio.run(read())


@pytest.fixture(scope="module")
def deployed(prefect_api: str) -> str:
    """The training deployment the receiver starts, registered as CI registers it."""
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    created = subprocess.run(
        [executable("prefect"), "work-pool", "create", "kubernetes", "--type", "kubernetes",
         "--overwrite"],
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


@dataclass
class Receiver:
    """A running receiver: its webhook URL and the file of the token Alertmanager sends."""

    started: Started
    url: str
    token_file: Path

    @property
    def authorization(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}

    def post(self, body: bytes | object, headers: dict[str, str] | None = None):
        """POST as Alertmanager does (with the token), unless `headers` say otherwise."""
        return post(self.url, body, headers=self.authorization if headers is None else headers)

    def stop(self) -> None:
        self.started.stop()


def start_receiver(api: str, log: Path, port: int | None = None, **env: str) -> Receiver:
    """A running receiver, its token in a file beside its log (kept across restarts)."""
    token = services.token_file(log.parent / "retrain-token")
    started = services.retrain_receiver(port or free_port(), token).run(
        log, {**os.environ, "PREFECT_API_URL": api, **env}
    )
    return Receiver(started, started.url, token)


def announce_body(receiver: Receiver, length: str | None,
                  headers: dict[str, str] | None = None) -> tuple[int, dict]:  # fmt: skip
    """POST headers announcing a body of `length` bytes (None: no Content-Length), send none
    of it: the answer."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(receiver.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("POST", parts.path)
        connection.putheader("Content-Type", "application/json")
        for name, value in (receiver.authorization if headers is None else headers).items():
            connection.putheader(name, value)
        if length is not None:
            connection.putheader("Content-Length", length)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.slow
def test_a_drift_alert_starts_one_training_run_per_incident(deployed, tmp_path):
    incident = uuid.uuid4().hex[:16]
    tag = incident_of(alert(incident))
    receiver = start_receiver(deployed, tmp_path / "receiver.log")
    try:
        status, body = receiver.post(webhook(alert(incident)))
        assert status == 200 and len(body["started"]) == 1, body
        runs = runs_tagged(deployed, tag)
        assert len(runs) == 1
        assert runs[0].parameters["reason"].startswith("retrain-alert ModelDriftDetected")
        assert runs[0].deployment_id is not None

        # Alertmanager repeats a firing alert: the same incident never starts a second run.
        status, body = receiver.post(webhook(alert(incident)))
        assert status == 200 and body["started"] == []
        assert body["skipped"] == [{"incident": tag, "reason": "already started"}]
        # A new incident inside the cool-down waits too.
        status, body = receiver.post(webhook(alert(incident + "-2")))
        assert body["skipped"][0]["reason"] == "cool-down"
        # Resolved alerts and bad payloads start nothing.
        assert receiver.post(webhook(alert(incident, status="resolved")))[1]["started"] == []
        status, body = receiver.post(b"not json")
        assert status == 400 and "not JSON" in body["error"]
        status, body = receiver.post(b"[" * 100_000 + b"]" * 100_000)
        assert status == 400 and "not JSON" in body["error"]
    finally:
        receiver.stop()

    # A restarted receiver remembers through Prefect: still one run for the incident.
    receiver = start_receiver(deployed, tmp_path / "receiver-2.log",
                              RETRAIN_COOLDOWN_SECONDS="0")  # fmt: skip
    try:
        status, body = receiver.post(webhook(alert(incident)))
        assert status == 200 and body["started"] == [], body
        assert len(runs_tagged(deployed, tag)) == 1
    finally:
        receiver.stop()


@pytest.mark.slow
def test_two_receivers_racing_on_one_incident_start_one_run(deployed, tmp_path):
    """Two environments' receivers, or two replicas, get the same incident at once."""
    from concurrent.futures import ThreadPoolExecutor

    incident = uuid.uuid4().hex[:16]
    receivers = [start_receiver(deployed, tmp_path / f"r{i}.log", RETRAIN_COOLDOWN_SECONDS="0")
                 for i in range(2)]  # fmt: skip
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: receivers[i % 2].post(webhook(alert(incident))),
                                    range(8)))  # fmt: skip
        # Prefect on SQLite may answer 503 to writes at once: the receiver says 502 and
        # Alertmanager sends again, as it would.
        answers += [receivers[0].post(webhook(alert(incident))) for status, _ in answers
                    if status == 502]  # fmt: skip
        assert {status for status, _ in answers} <= {200, 502}, answers
        assert sum(len(body.get("started", [])) for _, body in answers) == 1, answers
        assert len(runs_tagged(deployed, incident_of(alert(incident)))) == 1
    finally:
        for receiver in receivers:
            receiver.stop()


def _now(offset: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).isoformat().replace("+00:00", "Z")


@pytest.mark.slow
def test_incidents_over_time_through_a_real_alertmanager(deployed, tmp_path):
    """Alertmanager repeats a firing alert every 2 s, as it would every hour in a cluster:
    incident 1 starts a run and its repeats none; it resolves and fires again inside the
    cool-down (nothing) and starts a second run once the cool-down is over; a restarted
    receiver still refuses the next firing inside the new cool-down."""
    cooldown = 12
    labels = {"alertname": "ModelDriftDetected", "model": MODEL_NAME, "severity": "warning",
              "action": "retrain", "namespace": f"drift-test-{uuid.uuid4().hex[:6]}"}  # fmt: skip
    receiver = start_receiver(deployed, tmp_path / "receiver.log",
                              RETRAIN_COOLDOWN_SECONDS=str(cooldown))  # fmt: skip
    port = int(receiver.url.split(":")[2].split("/")[0])
    am_port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump({
        "route": {"receiver": "retrain", "group_by": ["alertname", "model", "namespace"],
                  "group_wait": "0s", "group_interval": "1s", "repeat_interval": "2s"},
        "receivers": [{"name": "retrain", "webhook_configs": [
            {"url": f"http://127.0.0.1:{port}/alerts", "send_resolved": False,
             "http_config": {"authorization": {"credentials_file": str(receiver.token_file)}}}]}],
    }))  # fmt: skip
    alertmanager = services.alertmanager(am_port, config, tmp_path / "am").run(
        tmp_path / "alertmanager.log"
    )
    api = f"http://127.0.0.1:{am_port}/api/v2/alerts"

    def fire(starts_at: str, ends_at: str | None = None) -> None:
        sent = {"labels": labels, "annotations": {"summary": "drift"}, "startsAt": starts_at}
        if ends_at:
            sent["endsAt"] = ends_at
        request = urllib.request.Request(api, data=json.dumps([sent]).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:  # Alertmanager: no body
            assert response.status == 200

    def runs() -> list:  # this alert's runs (its labels, so its fingerprint, are its own)
        status, text = get(api)
        assert status == 200, text
        fingerprints = {item["fingerprint"] for item in json.loads(text)}
        return [run for run in runs_tagged(deployed, "retrain-alert")
                if any(tag.split("@")[0] == f"incident:{fp}" for tag in run.tags
                       for fp in fingerprints)]  # fmt: skip

    def wait_for_runs(count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(runs()) < count:
            assert time.monotonic() < deadline, f"{len(runs())} runs, waited for {count}"
            time.sleep(0.5)

    try:
        first = _now()
        fire(first)
        wait_for_runs(1, 30)
        time.sleep(5)  # two or three repeats of the same incident
        assert len(runs()) == 1
        fire(first, ends_at=_now())  # drift is gone: the alert resolves
        time.sleep(2)
        second = _now(1)
        fire(second)  # and fires again: a new incident, inside the cool-down
        time.sleep(3)
        assert len(runs()) == 1
        assert "no training run (cool-down)" in (tmp_path / "receiver.log").read_text()
        wait_for_runs(2, cooldown + 20)  # a repeat after the cool-down starts it
        assert len(runs()) == 2

        # A restarted receiver derives the cool-down from Prefect, not from its memory.
        receiver.stop()
        receiver = start_receiver(deployed, tmp_path / "receiver-2.log", port=port,
                                  RETRAIN_COOLDOWN_SECONDS="3600")  # fmt: skip
        fire(second, ends_at=_now())
        time.sleep(2)
        fire(_now(1))
        time.sleep(6)
        log = (tmp_path / "receiver-2.log").read_text()
        assert "no training run (cool-down)" in log, log[-2000:]
        assert len(runs()) == 2
    finally:
        alertmanager.stop()
        receiver.stop()


@pytest.mark.slow
def test_an_unreachable_prefect_api_gets_a_retry_status(tmp_path):
    receiver = start_receiver(f"http://127.0.0.1:{free_port()}/api", tmp_path / "r.log")
    try:
        status, body = receiver.post(webhook(alert("x")))
        assert status == 502 and "Prefect API failed" in body["error"]  # Alertmanager retries
    finally:
        receiver.stop()


@pytest.mark.slow
def test_only_a_bounded_request_with_the_token_is_read(tmp_path):
    """Everything here is refused before Prefect is asked (the API does not even exist)."""
    import socket

    from {{ cookiecutter.package_name }}.retrain_receiver import SOCKET_TIMEOUT_SECONDS

    receiver = start_receiver(f"http://127.0.0.1:{free_port()}/api", tmp_path / "r.log")
    body = webhook(alert("x"))
    try:
        for headers in ({}, {"Authorization": "Bearer " + "0" * 64},
                        {"Authorization": "Basic " + receiver.authorization["Authorization"][7:]},
                        {"Authorization": "Bearer"}):  # fmt: skip
            status, answer = receiver.post(body, headers=headers)
            assert status == 401 and "bearer token" in answer["error"], (headers, answer)
        assert announce_body(receiver, "5", headers={})[0] == 401  # before the length is read
        status, answer = announce_body(receiver, None)
        assert status == 411 and "Content-Length is required" in answer["error"]
        for length in ("-5", "abc", "1e3"):
            status, answer = announce_body(receiver, length)
            assert status == 400 and "not a number of bytes" in answer["error"], length
        status, answer = announce_body(receiver, str(2 << 20))
        assert status == 413 and "over the limit of 1048576 bytes" in answer["error"]
        assert receiver.post(body)[0] == 502  # admitted: on to the (missing) Prefect API

        # The Secret is rotated: the new token is taken at once, the old one refused.
        old = receiver.authorization
        receiver.token_file.write_text("f" * 64 + "\n")
        assert receiver.post(body, headers=old)[0] == 401
        assert receiver.post(body)[0] == 502

        # A client that sends half a request and waits holds its thread only so long.
        port = int(receiver.url.split(":")[2].split("/")[0])
        wait = SOCKET_TIMEOUT_SECONDS + 10
        with socket.create_connection(("127.0.0.1", port), timeout=wait) as slow:
            slow.sendall(b"POST /alerts HTTP/1.1\r\n")
            started = time.monotonic()
            assert slow.recv(1024) == b""  # closed by the receiver
            assert time.monotonic() - started < SOCKET_TIMEOUT_SECONDS + 5
    finally:
        receiver.stop()


@pytest.mark.slow
@pytest.mark.parametrize(("token", "message"), [
    (None, "set RETRAIN_RECEIVER_TOKEN_FILE"),
    ("missing", "cannot be read"),
    ("short", "has 5 characters; at least 32"),
])  # fmt: skip
def test_the_receiver_does_not_start_without_a_usable_token(tmp_path, token, message):
    env = {k: v for k, v in os.environ.items() if k != "RETRAIN_RECEIVER_TOKEN_FILE"}
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{free_port()}/api"
    if token == "missing":
        env["RETRAIN_RECEIVER_TOKEN_FILE"] = str(tmp_path / "nothing")
    elif token == "short":
        (tmp_path / "token").write_text("abcde\n")
        env["RETRAIN_RECEIVER_TOKEN_FILE"] = str(tmp_path / "token")
    done = subprocess.run(
        [*services.retrain_receiver(free_port(), tmp_path / "unused").command],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and message in done.stderr, done.stderr
