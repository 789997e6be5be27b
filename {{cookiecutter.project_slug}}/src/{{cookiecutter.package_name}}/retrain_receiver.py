"""Alert to retraining: an Alertmanager webhook receiver that starts the training deployment.

Alertmanager posts its alerts to `/alerts`. A firing `ModelDriftDetected` or
`ModelQualityDegraded` alert of this model starts one run of the Prefect deployment
`train-<model>/<RETRAIN_DEPLOYMENT>` (`kubernetes` in the cluster, `local` on the local
stack), with the alert as its `reason`.

An incident is one firing of an alert: its fingerprint (a hash of the alert's labels, the
same every time this alert of this model fires) and its `startsAt`. Alertmanager repeats a
firing incident unchanged; once the alert resolves, the next firing has a new `startsAt` and
is a new incident. Everything the receiver decides is read back from Prefect, never kept in
memory, so a restarted receiver (or a second one) decides the same:
- an incident with a run already is skipped ("already started"), and the run is created with
  the incident as its idempotency key, so even two receivers racing start one run;
- a new incident within the cool-down after the last run the receivers started is skipped
  ("cool-down"); Alertmanager sends it again at its repeat interval, and it starts then.
Resolved alerts, other alerts and other models' alerts are ignored; a malformed payload gets
400 naming what is wrong. Only Alertmanager may post: a request without the bearer token of
RETRAIN_RECEIVER_TOKEN_FILE (a Secret's file, read at each request, so a rotated Secret
applies without a restart) gets 401 before its body is read. Prefect is reached through its
own client (the training image has Prefect), configured as every Prefect client is:
PREFECT_API_URL, PREFECT_API_KEY or PREFECT_API_AUTH_STRING; a failing Prefect API gets 502,
so Alertmanager sends again.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pydantic
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import DeploymentFlowRunCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import PrefectException

from .settings import FLOW_NAME, MODEL_NAME

log = logging.getLogger(__name__)

# The alerts that start retraining (k8s/base/prometheusrule.yaml): sustained drift of the
# served traffic, and quality below the version's own held-out figure (quality/).
RETRAIN_ALERTS = ("ModelDriftDetected", "ModelQualityDegraded")
STARTED_BY = "retrain-alert"  # the tag of every run the receiver starts
# A webhook body larger than this is refused before it is read (Alertmanager's are a few KiB).
MAX_BODY_BYTES = 1 << 20
# A connection that sends nothing for this long is closed: a slow client cannot hold a thread.
SOCKET_TIMEOUT_SECONDS = 10
MIN_TOKEN_LENGTH = 32  # characters: `openssl rand -hex 32` gives 64
FRACTION = re.compile(r"\.\d+")
# What a failing Prefect API raises through its client: unreachable or timed out, an error
# status (the deployment not found included), an answer that is not a flow run.
PREFECT_FAILURES = (httpx.HTTPError, PrefectException, pydantic.ValidationError, OSError)


class PayloadError(ValueError):
    """The webhook payload is not an Alertmanager message; the text names the field."""


def firing_retrain_alerts(payload: Any) -> list[dict[str, Any]]:
    """The firing RETRAIN_ALERTS of this model in an Alertmanager webhook payload."""
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
            and labels.get("alertname") in RETRAIN_ALERTS
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


class PrefectRuns:
    """The few Prefect calls the receiver makes (Prefect server or Prefect Cloud)."""

    def __init__(self, client: SyncPrefectClient, deployment: str = "kubernetes") -> None:
        self.client = client
        self.deployment = deployment

    def deployment_id(self) -> UUID:
        return self.client.read_deployment_by_name(f"{FLOW_NAME}/{self.deployment}").id

    def runs(self, deployment_id: UUID, tags: list[str], since: datetime | None = None) -> list:
        """Runs of the deployment with every tag in `tags` (newest first), limited to five."""
        flow_runs = FlowRunFilter(tags=FlowRunFilterTags(all_=tags))
        if since is not None:
            flow_runs.expected_start_time = FlowRunFilterExpectedStartTime(after_=since)
        return self.client.read_flow_runs(
            flow_run_filter=flow_runs,
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=5,
        )

    def start_run(
        self, deployment_id: UUID, reason: str, tags: list[str], idempotency_key: str
    ) -> tuple[FlowRun, bool]:
        """The run for `idempotency_key`, and whether this call created it (Prefect answers
        201 for a new run and 200 with the existing one for a key it has seen; the client's
        `create_flow_run_from_deployment` keeps only the run, so the call is made with the
        client's own request method and schema)."""
        run = DeploymentFlowRunCreate(
            parameters={"reason": reason}, tags=tags, idempotency_key=idempotency_key
        )
        response = self.client.request(
            "POST",
            "/deployments/{id}/create_flow_run",
            path_params={"id": deployment_id},
            json=run.model_dump(mode="json", exclude_unset=True),
        )
        return FlowRun.model_validate(response.json()), response.status_code == 201


class BearerToken:
    """The token Alertmanager sends (`Authorization: Bearer <token>`), kept in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current()  # a missing or short token stops the receiver at start-up

    def current(self) -> bytes:
        try:
            token = self.path.read_bytes().strip()
        except OSError as error:
            raise ValueError(f"the token file {self.path} cannot be read: {error}") from None
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"the token in {self.path} has {len(token)} characters; at least "
                f"{MIN_TOKEN_LENGTH} are needed"
            )
        return token

    def admits(self, authorization: str | None) -> bool:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return False
        try:
            expected = self.current()
        except ValueError as error:  # the Secret went missing: nobody is admitted
            log.error("%s", error)
            return False
        return hmac.compare_digest(given.strip().encode(), expected)


class RetrainReceiver:
    def __init__(self, prefect: PrefectRuns, cooldown_seconds: float) -> None:
        self.prefect = prefect
        self.cooldown_seconds = cooldown_seconds
        self._lock = threading.Lock()  # one decision at a time in this process

    def handle(self, payload: Any) -> dict[str, list[dict[str, str]]]:
        alerts = firing_retrain_alerts(payload)
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
                reason = f"{STARTED_BY} {alert['labels']['alertname']} since {alert['startsAt']}"
                run, created = self.prefect.start_run(
                    deployment_id, reason, [STARTED_BY, incident], f"{MODEL_NAME}/{incident}"
                )
                if not created:  # another receiver started it a moment ago
                    outcome["skipped"].append({"incident": incident, "reason": "already started"})
                    continue
                log.warning("started training run %s for %s (%s)", run.id, incident, reason)
                outcome["started"].append({"incident": incident, "flow_run": str(run.id)})
        return outcome

    def _reason_to_skip(self, deployment_id: UUID, incident: str) -> str | None:
        if self.prefect.runs(deployment_id, [STARTED_BY, incident]):
            return "already started"
        if self.cooldown_seconds > 0:
            since = datetime.now(UTC) - timedelta(seconds=self.cooldown_seconds)
            if self.prefect.runs(deployment_id, [STARTED_BY], since=since):
                return "cool-down"
        return None


def serve(receiver: RetrainReceiver, token: BearerToken, host: str,
          port: int) -> ThreadingHTTPServer:  # fmt: skip
    class Handler(BaseHTTPRequestHandler):
        timeout = SOCKET_TIMEOUT_SECONDS

        def do_POST(self) -> None:
            if self.path != "/alerts":
                return self._send(404, {"error": "POST alerts to /alerts"})
            if not token.admits(self.headers.get("Authorization")):
                self.close_connection = True  # the body stays unread
                return self._send(401, {"error": "a valid bearer token is required"},
                                  {"WWW-Authenticate": 'Bearer realm="alerts"'})  # fmt: skip
            declared = self.headers.get("Content-Length")
            if declared is None:  # chunked or unbounded: the size must be known first
                self.close_connection = True
                return self._send(411, {"error": "a Content-Length is required"})
            if not declared.strip().isdigit():
                self.close_connection = True
                return self._send(400, {"error": f"Content-Length {declared[:40]!r} is not "
                                                 "a number of bytes"})  # fmt: skip
            length = int(declared)
            if length > MAX_BODY_BYTES:
                self.close_connection = True  # the body stays unread
                return self._send(413, {"error": f"the body of {length} bytes is over the "
                                                 f"limit of {MAX_BODY_BYTES} bytes"})  # fmt: skip
            try:
                payload = json.loads(self.rfile.read(length) or b"null")
                return self._send(200, receiver.handle(payload))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                return self._send(400, {"error": "the body is not JSON"})
            except PayloadError as error:
                return self._send(400, {"error": str(error)})
            except PREFECT_FAILURES as error:
                log.error("Prefect API call failed: %s", error)  # Alertmanager retries on 5xx
                return self._send(502, {"error": f"the Prefect API failed: {error}"})

        def do_GET(self) -> None:
            if self.path == "/health":
                return self._send(200, {"status": "ok"})
            return self._send(404, {"error": "not found"})

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return ThreadingHTTPServer((host, port), Handler)
