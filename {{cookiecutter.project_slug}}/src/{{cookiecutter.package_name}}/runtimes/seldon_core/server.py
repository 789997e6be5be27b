"""The Seldon Core Python wrapper: `seldon-core-microservice` serves this class.

The model is loaded in `load()` at start-up (never on the first request), by the registry
alias or pinned version in the settings. Input is checked against the model signature so a
bad request gets a 400 naming the problem, and every prediction is logged to Kafka without
waiting for it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

import numpy as np
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.proto.prediction_pb2 import SeldonMessage
from seldon_core.utils import json_to_seldon_message, seldon_message_to_json

from ... import registry
from ...data import FEATURES
from ...request_log import DeltaCounts, RequestLogger, new_request_id
from ...settings import Settings, load_settings
from ...tasks import task
from ...validation import InvalidInput, predict, to_feature_matrix
from . import limits, protocol, seldon_metrics

log = logging.getLogger(__name__)
# Seldon hands custom metrics to its metrics process with the answer that returns them: a
# report costs that answer ~0.5 ms of round trips to Seldon's metrics manager and ~1 us per
# metric (see seldon_metrics.py); an answer with nothing to report costs nothing. So they are
# collected here and reported together, with the first answer REPORT_INTERVAL seconds after
# the last report (the counts of a burst's last second wait for the next answer), or once
# REPORT_LATENCIES latencies wait.
REPORT_INTERVAL = 1.0
REPORT_LATENCIES = 1000


class SeldonModel:
    """Serves the registered model; the class `protocol.SERVER_CLASS` names."""

    # Seldon registers this blueprint on its Flask app: the request body's size limit.
    model_error_handler = limits.request_limits

    def __init__(self, settings: Settings | None = None) -> None:
        limits.answer_errors_with_status()  # Seldon creates its servers after this object
        self.settings = settings or load_settings()
        self.served: registry.ServedModel | None = None
        self.request_log = RequestLogger(
            self.settings.kafka,
            self.settings.request_topic,
            self.settings.model_name,
            predictor=self.settings.predictor_name,
        )
        # Every metric is labelled `model` (as the drift service's are) and `predictor` (a
        # rollout runs two side by side; `compare-predictors` tells them apart).
        self._labels = {"model": self.settings.model_name,
                        "predictor": self.settings.predictor_name}  # fmt: skip
        # Since the last report: "requests", "rows", "prediction:<label value>" (tasks/),
        # "error:<status>:<reason>"
        # and each answer's latency in ms (appends and pops are atomic: threads need no lock).
        self._counts = DeltaCounts("requests", "rows")
        self._latencies: deque[float] = deque()
        self._last_rows = 0
        self._next_report = 0.0

    def load(self) -> None:
        self.served = registry.load_served_model(self.settings)
        self.request_log.start()
        seldon_metrics.speed_up()

    def _require_loaded(self) -> registry.ServedModel:
        if self.served is None:
            raise SeldonMicroserviceException(
                "the model is not loaded yet", status_code=503, reason="MODEL_NOT_LOADED"
            )
        return self.served

    def health_status(self) -> dict[str, str]:
        served = self._require_loaded()
        return {"model": served.name, "version": served.version, "status": "ready"}

    def health_status_raw(self) -> dict[str, Any]:
        """/health/status, as Seldon would answer it but without asking `metrics()`: metrics
        reported at a health check become series of their own (method="health"), and Seldon
        copies every series to and from its metrics process at every request."""
        return {"jsonData": self.health_status(), "meta": {"tags": self.tags()}}

    def predict_raw(self, request: Any) -> dict[str, Any] | SeldonMessage:
        """Decode every request ourselves, so no payload can reach Seldon's decoder and 500,
        and REST and gRPC name a bad request in the same words.

        A gRPC message is read as its JSON form and answered as a message again."""
        if isinstance(request, SeldonMessage):
            return json_to_seldon_message(self.predict_raw(seldon_message_to_json(request)))
        if not isinstance(request, dict):
            raise self._failed(InvalidInput("expected a JSON object"))
        started = time.perf_counter()
        try:
            rows, names, form = protocol.decode(request)
        except InvalidInput as error:
            raise self._failed(error) from None
        meta = request.get("meta")
        puid = meta.get("puid") if isinstance(meta, dict) else None
        request_id = str(puid) if puid else new_request_id()
        outputs = self._predict(rows, names, request_id)
        self._latencies.append((time.perf_counter() - started) * 1000)
        if form == "tensor":
            data: dict[str, Any] = {
                "names": self.output_names(),
                "tensor": {"shape": list(outputs.shape), "values": outputs.ravel().tolist()},
            }
        else:
            data = {"names": self.output_names(), "ndarray": outputs.tolist()}
        # The request id: the caller's puid (Seldon Core's executor sets one), else a new one,
        # answered either way: the request log and a later feedback call name it.
        response_meta: dict[str, Any] = {"puid": request_id, "tags": self.tags()}
        report = self._report()
        if report:  # Seldon takes them out of the answer (INCLUDE_METRICS_IN_CLIENT_RESPONSE)
            response_meta["metrics"] = report
        return {"data": data, "meta": response_meta}

    def _predict(self, X: Any, feature_names: Any, request_id: str) -> np.ndarray:
        """Check the input once, predict, count and log the request."""
        try:
            served = self._require_loaded()
            matrix = to_feature_matrix(X, feature_names, served.feature_names)
            outputs = predict(served.model, matrix)
        except Exception as error:
            raise self._failed(error) from None
        rows = len(matrix)
        self._counts.add("requests")
        self._counts.add("rows", rows)
        self._last_rows = rows
        counts = task.prediction_counts(outputs, served.output_names, served.metadata)
        for value, count in counts.items():
            if count:
                self._counts.add(f"prediction:{value}", count)
        if self.request_log.enabled:
            self.request_log.log(request_id, served.version, served.feature_names, matrix,
                                 served.output_names, outputs)  # fmt: skip
        return outputs
{%- if cookiecutter.include_drift_detection %}

    def send_feedback_raw(self, feedback: Any) -> SeldonMessage:
        """Seldon's feedback call (REST /api/v1.0/feedback, gRPC SendFeedback): `truth` holds
        the true value of each row of the request whose puid the `response` (or the
        `request`) carries. It goes to the labels topic as one label message
        (schemas/labels.schema.json), where the quality monitor joins it to the logged
        prediction; the reward is Seldon's own metric and not used here."""
        from seldon_core.utils import feedback_to_json

        from ...quality.messages import encode_label

        served = self._require_loaded()
        # REST hands the body's JSON, gRPC the message: read both as JSON.
        message = feedback if isinstance(feedback, dict) else feedback_to_json(feedback)
        try:
            request_id = _puid(message.get("response")) or _puid(message.get("request"))
            if not request_id:
                raise InvalidInput("feedback must name its request: the response's meta.puid "
                                   "(answered with every prediction)")  # fmt: skip
            labels = feedback_labels(message.get("truth"), served.output_names)
        except InvalidInput as error:
            raise self._failed(error) from None
        if not self.request_log.enabled:
            raise self._failed(SeldonMicroserviceException(
                "feedback needs Kafka: KAFKA_BOOTSTRAP_SERVERS is not set", status_code=503,
                reason="NO_LABELS_TOPIC"))  # fmt: skip
        value = encode_label(request_id, served.name, labels, source="feedback")
        if not self.request_log.send(self.settings.labels_topic, request_id, value):
            raise self._failed(SeldonMicroserviceException(
                "the labels could not be queued for Kafka; send them again", status_code=503,
                reason="LABELS_NOT_QUEUED"))  # fmt: skip
        # Seldon reads the answer's custom metrics from a message, on REST and gRPC alike.
        return json_to_seldon_message(
            {"data": {"ndarray": []}, "meta": {"puid": request_id, "tags": self.tags()}}
        )
{%- endif %}

    def _failed(self, error: Exception) -> SeldonMicroserviceException:
        """Count a failed request; its answer: a named 400 or 503, any other error a 500
        (never a TypeError, on which Seldon would call predict() again)."""
        if isinstance(error, InvalidInput):
            error = SeldonMicroserviceException(str(error), status_code=400, reason="INVALID_INPUT")
        elif not isinstance(error, SeldonMicroserviceException):
            log.exception("prediction failed")
            error = SeldonMicroserviceException(
                f"prediction failed: {type(error).__name__}", status_code=500,
                reason="PREDICTION_FAILED",
            )  # fmt: skip
        self._counts.add("requests")
        self._counts.add(f"error:{error.status_code}:{error.reason}")
        return error

    def output_names(self) -> list[str]:
        return list(self._require_loaded().output_names)

    def tags(self) -> dict[str, str]:
        served = self._require_loaded()
        return {"model_name": served.name, "model_version": served.version, "run_id": served.run_id}

    def _report(self) -> list[dict[str, Any]]:
        """The metrics since the last report, when one is due (see REPORT_INTERVAL), else none.

        Seldon accepts COUNTER (an increment), GAUGE and TIMER (one observation of a histogram
        in seconds, given in ms: model_predict_seconds); rows per request = model_rows_total /
        model_requests_total. Seldon adds `method` to each metric's tags: a dict of its own."""
        now = time.monotonic()
        if now < self._next_report and len(self._latencies) < REPORT_LATENCIES:
            return []
        self._next_report = now + REPORT_INTERVAL
        metrics: list[dict[str, Any]] = [
            {"type": "TIMER", "key": "model_predict_seconds", "value": self._latencies.popleft()}
            for _ in range(len(self._latencies))
        ]
        for name, delta in self._counts.deltas().items():
            kind, _, detail = name.partition(":")
            if not delta:
                continue
            if kind == "prediction":
                key, tags = "model_predictions_total", {task.PREDICTION_LABEL: detail}
            elif kind == "error":
                status, reason = detail.split(":", 1)
                key, tags = "model_request_errors_total", {"status": status, "reason": reason}
            else:  # requests, rows
                key, tags = f"model_{kind}_total", {}
            metrics.append({"type": "COUNTER", "key": key, "value": delta, "tags": tags})
        if self._last_rows:
            metrics.append(
                {"type": "GAUGE", "key": "model_last_request_rows", "value": self._last_rows}
            )
        if self.request_log.enabled:  # both series exist from the first report, even at 0
            for name, delta in self.request_log.counts.deltas().items():
                metrics.append(
                    {"type": "COUNTER", "key": f"request_log_{name}_total", "value": delta}
                )
            metrics.append(
                {"type": "GAUGE", "key": "request_log_queue_depth",
                 "value": self.request_log.queue_depth}
            )  # fmt: skip
        if self.served is not None:  # "model version in service" on the dashboard
            metrics.append(
                {"type": "GAUGE", "key": "model_served_version", "value": int(self.served.version)}
            )
        for metric in metrics:
            metric["tags"] = {**metric.get("tags", {}), **self._labels}
        return metrics

    def init_metadata(self) -> dict[str, Any]:
        """Static description; Seldon asks for it before `load()`, so it uses the code schema."""
        return {
            "name": self.settings.model_name,
            "platform": "seldon",
            "inputs": [{"name": "features", "datatype": "FP64", "shape": [-1, len(FEATURES)]}],
            "outputs": [{"name": task.OUTPUT, "datatype": "FP64", "shape": [-1, -1]}],
            "custom": {
                "feature_names": ",".join(FEATURES),
                "served_model": self.settings.served_model_reference,
            },
        }
{%- if cookiecutter.include_drift_detection %}


def _puid(message: Any) -> str | None:
    meta = message.get("meta") if isinstance(message, dict) else None
    puid = meta.get("puid") if isinstance(meta, dict) else None
    return puid if isinstance(puid, str) and puid else None


def feedback_labels(truth: Any, output_names: list[str]) -> list[Any]:
    """The labels of a feedback's `truth` (data.ndarray, or data.tensor of numbers): one per
    row, each either the value or a one-value row. InvalidInput naming what is wrong."""
    data = truth.get("data") if isinstance(truth, dict) else None
    if not isinstance(data, dict) or not ("ndarray" in data or "tensor" in data):
        raise InvalidInput("feedback truth must be data.ndarray or data.tensor: a label per row")
    values = data["ndarray"] if "ndarray" in data else data["tensor"].get("values")
    if not isinstance(values, list) or not values:
        raise InvalidInput("feedback truth holds no labels: one label per row of the request")
    labels = []
    for row, value in enumerate(values):
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        try:
            labels.append(task.label(value, output_names))
        except ValueError as error:
            raise InvalidInput(f"feedback truth, row {row}: {error}") from None
    return labels
{%- endif %}
