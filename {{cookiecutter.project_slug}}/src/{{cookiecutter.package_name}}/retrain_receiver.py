"""Alert to retraining: an Alertmanager webhook receiver that starts the training deployment.

Alertmanager posts its alerts to `/alerts`. A firing `ModelDriftDetected` alert of this model
starts one run of the Prefect deployment `train-<model>/<RETRAIN_DEPLOYMENT>` (`kubernetes` in
the cluster, `local` on the local stack), with the alert as its
`reason`. One incident starts one run: each run is tagged with the alert's fingerprint, and
an incident that already has a run (ask Prefect, so a restarted receiver remembers) or that
arrives within the cool-down after another run is skipped. Resolved alerts, other alerts and
other models' alerts are ignored; a malformed payload gets 400 naming what is wrong.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .settings import FLOW_NAME, MODEL_NAME

log = logging.getLogger(__name__)

DRIFT_ALERT = "ModelDriftDetected"


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
            found.append(alert)
    return found


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

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.api_url + path,
            method=method,
            headers=self.headers,
            data=json.dumps(body).encode() if body is not None else None,
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.load(response)

    def deployment_id(self) -> str:
        return self.call("GET", f"/deployments/name/{FLOW_NAME}/{self.deployment}")["id"]

    def runs_tagged(self, deployment_id: str, tag: str) -> list[dict[str, Any]]:
        return self.call(
            "POST",
            "/flow_runs/filter",
            {
                "flow_runs": {"tags": {"all_": [tag]}},
                "deployments": {"id": {"any_": [deployment_id]}},
                "limit": 5,
            },
        )

    def start_run(self, deployment_id: str, reason: str, tags: list[str]) -> dict[str, Any]:
        return self.call(
            "POST",
            f"/deployments/{deployment_id}/create_flow_run",
            {"parameters": {"reason": reason}, "tags": tags},
        )


class RetrainReceiver:
    def __init__(self, prefect: PrefectApi, cooldown_seconds: float) -> None:
        self.prefect = prefect
        self.cooldown_seconds = cooldown_seconds
        self._lock = threading.Lock()  # one decision at a time: no double start in a race
        self._last_start: float | None = None

    def handle(self, payload: Any) -> dict[str, list[dict[str, str]]]:
        alerts = firing_drift_alerts(payload)
        outcome: dict[str, list[dict[str, str]]] = {"started": [], "skipped": []}
        if not alerts:
            return outcome
        with self._lock:
            deployment_id = self.prefect.deployment_id()
            for alert in alerts:
                incident = f"incident:{alert['fingerprint']}"
                if self.prefect.runs_tagged(deployment_id, incident):
                    outcome["skipped"].append({"incident": incident, "reason": "already started"})
                    continue
                if (
                    self._last_start is not None
                    and time.monotonic() - self._last_start < self.cooldown_seconds
                ):
                    outcome["skipped"].append({"incident": incident, "reason": "cool-down"})
                    continue
                reason = f"drift-alert {DRIFT_ALERT} since {alert.get('startsAt', 'unknown')}"
                run = self.prefect.start_run(deployment_id, reason, ["drift-alert", incident])
                self._last_start = time.monotonic()
                log.warning("started training run %s (%s)", run["id"], reason)
                outcome["started"].append({"incident": incident, "flow_run": run["id"]})
        return outcome


def serve(receiver: RetrainReceiver, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/alerts":
                return self._send(404, {"error": "POST alerts to /alerts"})
            length = int(self.headers.get("Content-Length") or 0)
            try:
                payload = json.loads(self.rfile.read(length) or b"null")
                return self._send(200, receiver.handle(payload))
            except (UnicodeDecodeError, json.JSONDecodeError):
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
