"""Alert to retraining: an Alertmanager webhook receiver that starts the training deployment.

Alertmanager posts its alerts to `/alerts`. A firing `ModelDriftDetected` alert of this model
starts one run of the Prefect deployment `train-<model>/<RETRAIN_DEPLOYMENT>` (`kubernetes` in
the cluster, `local` on the local stack), with the alert as its `reason`.

An incident is one firing of the alert: its fingerprint (a hash of the alert's labels, the
same every time this model drifts) and its `startsAt`. Alertmanager repeats a firing incident
unchanged; once the alert resolves, the next firing has a new `startsAt` and is a new
incident. Everything the receiver decides is read back from Prefect, never kept in memory, so
a restarted receiver (or a second one) decides the same:
- an incident with a run already is skipped ("already started"), and the run is created with
  the incident as its idempotency key, so even two receivers racing start one run;
- a new incident within the cool-down after the last run the receivers started is skipped
  ("cool-down"); Alertmanager sends it again at its repeat interval, and it starts then.
Resolved alerts, other alerts and other models' alerts are ignored; a malformed payload gets
400 naming what is wrong.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .settings import FLOW_NAME, MODEL_NAME

log = logging.getLogger(__name__)

DRIFT_ALERT = "ModelDriftDetected"
STARTED_BY = "drift-alert"  # the tag of every run the receiver starts
# A webhook body larger than this is refused before it is read (Alertmanager's are a few KiB).
MAX_BODY_BYTES = 1 << 20
FRACTION = re.compile(r"\.\d+")


class PayloadError(ValueError):
    """The webhook payload is not an Alertmanager message; the text names the field."""


def firing_drift_alerts(payload: Any) -> list[dict[str, Any]]:
    """The firing drift alerts of this model in an Alertmanager webhook payload."""
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object (Alertmanager webhook format)")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("'alerts' must be a list")
    found = []
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise PayloadError(f"alerts[{index}] must be an object")
        labels = alert.get("labels")
        if not isinstance(labels, dict) or not isinstance(alert.get("status"), str):
            raise PayloadError(f"alerts[{index}] needs 'status' (a string) and 'labels' (object)")
        if (
            alert["status"] == "firing"
            and labels.get("alertname") == DRIFT_ALERT
            and labels.get("model") == MODEL_NAME
        ):
            if not isinstance(alert.get("fingerprint"), str) or not alert["fingerprint"]:
                raise PayloadError(f"alerts[{index}] needs its 'fingerprint'")
            if _since(alert.get("startsAt")) is None:
                raise PayloadError(f"alerts[{index}] needs 'startsAt' (an RFC 3339 time)")
            found.append(alert)
    return found


def _since(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    # Alertmanager writes nanoseconds; Python reads at most microseconds.
    text = FRACTION.sub(lambda match: match.group(0)[:7], value.strip())
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def incident_of(alert: dict[str, Any]) -> str:
    """One firing of the alert: its fingerprint and when it started firing (UTC seconds)."""
    since = _since(alert.get("startsAt"))
    if since is None:
        raise PayloadError(f"alert {alert.get('fingerprint')} needs 'startsAt' (RFC 3339)")
    return f"incident:{alert['fingerprint']}@{since.strftime('%Y%m%dT%H%M%SZ')}"


class PrefectApi:
    """The few Prefect REST calls the receiver makes (Prefect server or Prefect Cloud)."""

    def __init__(
        self, api_url: str, api_key: str | None = None, deployment: str = "kubernetes"
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.deployment = deployment
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.api_url + path,
            method=method,
            headers=self.headers,
            data=json.dumps(body).encode() if body is not None else None,
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.load(response)

    def deployment_id(self) -> str:
        return self.call("GET", f"/deployments/name/{FLOW_NAME}/{self.deployment}")[1]["id"]

    def runs(self, deployment_id: str, tags: list[str], since: datetime | None = None) -> list:
        """Runs of the deployment with every tag in `tags` (newest first), limited to five."""
        runs: dict[str, Any] = {"tags": {"all_": tags}}
        if since is not None:
            runs["expected_start_time"] = {"after_": since.isoformat()}
        return self.call("POST", "/flow_runs/filter", {
            "flow_runs": runs, "deployments": {"id": {"any_": [deployment_id]}},
            "sort": "EXPECTED_START_TIME_DESC", "limit": 5,
        })[1]  # fmt: skip

    def start_run(
        self, deployment_id: str, reason: str, tags: list[str], idempotency_key: str
    ) -> tuple[dict[str, Any], bool]:
        """The run for `idempotency_key`, and whether this call created it (Prefect answers
        201 for a new run and 200 with the existing one for a key it has seen)."""
        status, run = self.call(
            "POST",
            f"/deployments/{deployment_id}/create_flow_run",
            {"parameters": {"reason": reason}, "tags": tags, "idempotency_key": idempotency_key},
        )
        return run, status == 201


class RetrainReceiver:
    def __init__(self, prefect: PrefectApi, cooldown_seconds: float) -> None:
        self.prefect = prefect
        self.cooldown_seconds = cooldown_seconds
        self._lock = threading.Lock()  # one decision at a time in this process

    def handle(self, payload: Any) -> dict[str, list[dict[str, str]]]:
        alerts = firing_drift_alerts(payload)
        outcome: dict[str, list[dict[str, str]]] = {"started": [], "skipped": []}
        if not alerts:
            return outcome
        with self._lock:
            deployment_id = self.prefect.deployment_id()
            for alert in alerts:
                incident = incident_of(alert)
                skipped = self._reason_to_skip(deployment_id, incident)
                if skipped:
                    log.info("%s: no training run (%s)", incident, skipped)
                    outcome["skipped"].append({"incident": incident, "reason": skipped})
                    continue
                reason = f"drift-alert {DRIFT_ALERT} since {alert['startsAt']}"
                run, created = self.prefect.start_run(
                    deployment_id, reason, [STARTED_BY, incident], f"{MODEL_NAME}/{incident}"
                )
                if not created:  # another receiver started it a moment ago
                    outcome["skipped"].append({"incident": incident, "reason": "already started"})
                    continue
                log.warning("started training run %s for %s (%s)", run["id"], incident, reason)
                outcome["started"].append({"incident": incident, "flow_run": run["id"]})
        return outcome

    def _reason_to_skip(self, deployment_id: str, incident: str) -> str | None:
        if self.prefect.runs(deployment_id, [STARTED_BY, incident]):
            return "already started"
        if self.cooldown_seconds > 0:
            since = datetime.now(UTC) - timedelta(seconds=self.cooldown_seconds)
            if self.prefect.runs(deployment_id, [STARTED_BY], since=since):
                return "cool-down"
        return None


def serve(receiver: RetrainReceiver, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/alerts":
                return self._send(404, {"error": "POST alerts to /alerts"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return self._send(400, {"error": "Content-Length is not a number"})
            if length > MAX_BODY_BYTES:
                return self._send(413, {"error": f"the body is over {MAX_BODY_BYTES} bytes"})
            try:
                payload = json.loads(self.rfile.read(length) or b"null")
                return self._send(200, receiver.handle(payload))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                return self._send(400, {"error": "the body is not JSON"})
            except PayloadError as error:
                return self._send(400, {"error": str(error)})
            except (urllib.error.URLError, OSError, KeyError) as error:
                log.error("Prefect API call failed: %s", error)  # Alertmanager retries on 5xx
                return self._send(502, {"error": f"the Prefect API failed: {error}"})

        def do_GET(self) -> None:
            if self.path == "/health":
                return self._send(200, {"status": "ok"})
            return self._send(404, {"error": "not found"})

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return ThreadingHTTPServer((host, port), Handler)
