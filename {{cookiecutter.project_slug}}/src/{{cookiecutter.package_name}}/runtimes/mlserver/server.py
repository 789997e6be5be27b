"""The MLServer custom runtime of every runtime that runs MLServer (`serve` starts it).

The model is loaded in `load()` at start-up (never on the first request), by the registry
alias or pinned version in the settings; MLServer reports the model ready only after it.
Input is checked against the model signature so a bad request gets a 400 naming the problem
(MLServer itself answers 422 to a body that is not a V2 request), and every prediction is
logged to Kafka without waiting for it, in the same message schema as every runtime.

Metrics: the names and labels every runtime of this template exports (model_requests_total,
model_predict_seconds, ...), so the alerts, the dashboard and `compare-predictors` work
unchanged. MLServer serves the process's Prometheus registry on its metrics port; the server
runs with `parallel_workers: 0` (inference in the server process), so the registry is this
process's own.
"""

from __future__ import annotations

import logging
import time

from mlserver import MLModel
from mlserver.errors import MLServerError
from mlserver.types import (
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
    Parameters,
    ResponseOutput,
)
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ... import registry
from ...request_log import RequestLogger, new_request_id
from ...settings import Settings, load_settings
from ...tasks import task
from ...validation import InvalidInput, predict, to_feature_matrix
from . import limits, mirror
from . import open_inference as protocol

log = logging.getLogger(__name__)
LABELS = ("model", "predictor")


class ServingMetrics:
    """The custom metrics, registered once per process (MLServer may reload a model)."""

    _instance: ServingMetrics | None = None

    def __init__(self) -> None:
        self.requests = Counter("model_requests", "Prediction requests", LABELS)
        self.errors = Counter("model_request_errors", "Failed prediction requests",
                              (*LABELS, "status", "reason"))  # fmt: skip
        self.rows = Counter("model_rows", "Rows predicted", LABELS)
        self.last_rows = Gauge("model_last_request_rows", "Rows in the last request", LABELS)
        label = task.PREDICTION_LABEL  # tasks/: the predicted class, or a bucket's bound
        self.predictions = Counter("model_predictions", f"Predicted rows by {label}",
                                   (*LABELS, label))  # fmt: skip
        self.seconds = Histogram("model_predict_seconds", "Time to answer a prediction", LABELS)
        self.version = Gauge("model_served_version", "Registry version being served", LABELS)

    @classmethod
    def get(cls) -> ServingMetrics:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance


class RequestLogCollector:
    """request_log_{sent,dropped}_total and the queue depth, read when Prometheus scrapes.

    Registered once per process; a reloaded model points it at its new logger."""

    _instance: RequestLogCollector | None = None

    def __init__(self, request_log: RequestLogger, labels: dict[str, str]) -> None:
        self.request_log, self.labels = request_log, labels

    @classmethod
    def follow(cls, request_log: RequestLogger, labels: dict[str, str]) -> None:
        if cls._instance is None:
            cls._instance = cls(request_log, labels)
            REGISTRY.register(cls._instance)
        cls._instance.request_log, cls._instance.labels = request_log, labels

    def collect(self):
        names, values = list(self.labels), list(self.labels.values())
        for name in ("sent", "dropped"):
            family = CounterMetricFamily(f"request_log_{name}", f"Request-log messages {name}",
                                         labels=names)  # fmt: skip
            family.add_metric(values, self.request_log.counts.total(name))
            yield family
        depth = GaugeMetricFamily("request_log_queue_depth", "Messages waiting to be sent",
                                  labels=names)  # fmt: skip
        depth.add_metric(values, self.request_log.queue_depth)
        yield depth


class MLServerModel(MLModel):
    """Serves the registered model; MLSERVER_MODEL_IMPLEMENTATION names this class."""

    async def load(self) -> bool:
        limits.bound_request_bodies()
        self.app_settings: Settings = load_settings()
        self.labels = {"model": self.app_settings.model_name,
                       "predictor": self.app_settings.predictor_name}  # fmt: skip
        self.metrics = ServingMetrics.get()
        self.served = registry.load_served_model(self.app_settings)
        self.request_log = RequestLogger(
            self.app_settings.kafka,
            self.app_settings.request_topic,
            self.app_settings.model_name,
            predictor=self.app_settings.predictor_name,
        )
        self.request_log.start()
        if self.request_log.enabled:
            RequestLogCollector.follow(self.request_log, self.labels)
        # A shadow rollout's production predictor copies each answered request to the
        # candidate (its MIRROR_URL: mirror.py); otherwise no copy is made.
        mirror_url = mirror.url_from_environment()
        self.mirror = mirror.RequestMirror(mirror_url, self.labels) if mirror_url else None
        if self.mirror is not None:
            self.mirror.start()
        self.metrics.version.labels(**self.labels).set(int(self.served.version))
        # Each series once (they all exist from the start), not a label lookup per request.
        self._requests = self.metrics.requests.labels(**self.labels)
        self._rows = self.metrics.rows.labels(**self.labels)
        self._last_rows = self.metrics.last_rows.labels(**self.labels)
        self._seconds = self.metrics.seconds.labels(**self.labels)
        self._predictions = {
            value: self.metrics.predictions.labels(**self.labels, **{task.PREDICTION_LABEL: value})
            for value in task.prediction_label_values(self.served.output_names,
                                                      self.served.metadata)
        }  # fmt: skip
        return True

    async def metadata(self) -> MetadataModelResponse:
        """V2 model metadata: the served version's inputs and outputs, from its signature
        (MLServer's own lists only what a model-settings.json declares: nothing here)."""
        served = self.served
        return MetadataModelResponse.model_validate(protocol.model_metadata(
            served.name, served.version, served.feature_names, served.feature_types,
            served.output_names,
        ))  # fmt: skip

    def _fail(self, status: int, reason: str, message: str) -> MLServerError:
        self.metrics.errors.labels(**self.labels, status=str(status), reason=reason).inc()
        return MLServerError(message, status_code=status)

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        started = time.perf_counter()
        self._requests.inc()
        served = self.served
        try:
            rows, names, _ = protocol.decode(payload)  # MLServer's parsed request, as it is
            matrix = to_feature_matrix(rows, names, served.feature_names)
            outputs = predict(served.model, matrix)
        except InvalidInput as error:
            raise self._fail(400, "INVALID_INPUT", str(error)) from None
        except Exception as error:
            log.exception("prediction failed")
            raise self._fail(
                500, "PREDICTION_FAILED", f"prediction failed: {type(error).__name__}"
            ) from None
        request_id = payload.id or new_request_id()
        self.request_log.log(request_id, served.version, served.feature_names, matrix,
                             served.output_names, outputs)  # fmt: skip
        if self.mirror is not None:
            self.mirror.copy(matrix, request_id)
        counts = task.prediction_counts(outputs, served.output_names, served.metadata)
        for value, count in counts.items():
            if count:
                self._predictions[value].inc(count)
        self._rows.inc(len(matrix))
        self._last_rows.set(len(matrix))
        self._seconds.observe(time.perf_counter() - started)
        return InferenceResponse(
            id=request_id,
            model_name=served.name,
            model_version=served.version,
            outputs=[
                ResponseOutput(
                    name=protocol.OUTPUT,
                    shape=list(outputs.shape),
                    datatype="FP64",
                    data=outputs.ravel().tolist(),
                    parameters=Parameters(names=list(served.output_names)),
                )
            ],
            parameters=Parameters(run_id=served.run_id, predictor=self.labels["predictor"]),
        )

    async def unload(self) -> bool:
        # MLServer unloads a model whose load() failed too: there may be no request log yet.
        request_log = getattr(self, "request_log", None)
        if request_log is not None:
            request_log.close()
        if getattr(self, "mirror", None) is not None:
            await self.mirror.close()
        return True
