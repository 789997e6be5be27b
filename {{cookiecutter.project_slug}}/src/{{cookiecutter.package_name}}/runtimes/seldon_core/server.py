"""The Seldon Core Python wrapper: `seldon-core-microservice` serves this class.

The model is loaded in `load()` at start-up (never on the first request), by the registry
alias or pinned version in the settings. Input is checked against the model signature so a
bad request gets a 400 naming the problem, and every prediction is logged to Kafka without
waiting for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.user_model import SeldonNotImplementedError

from ... import registry
from ...data import FEATURES
from ...request_log import DeltaCounts, RequestLogger, new_request_id
from ...settings import Settings, load_settings
from ...validation import InvalidInput, to_feature_matrix
from . import protocol

log = logging.getLogger(__name__)


class SeldonModel:
    """Serves the registered model; the class `protocol.SERVER_CLASS` names."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.served: registry.ServedModel | None = None
        self.request_log = RequestLogger(
            self.settings.kafka_bootstrap_servers,
            self.settings.request_topic,
            self.settings.model_name,
            predictor=self.settings.predictor_name,
        )
        # Seldon reads metrics() right after predict() in the same request; with several
        # threads per worker the per-request values are kept per thread.
        self._request = threading.local()
        # Requests and failed requests by reason. A failed request returns no metrics, so
        # its count is reported by the next request or health check (probes run every 10 s).
        self._outcomes = DeltaCounts("requests")

    def load(self) -> None:
        self.served = registry.load_served_model(self.settings)
        self.request_log.start()

    def _require_loaded(self) -> registry.ServedModel:
        if self.served is None:
            raise SeldonMicroserviceException(
                "the model is not loaded yet", status_code=503, reason="MODEL_NOT_LOADED"
            )
        return self.served

    def health_status(self) -> dict[str, str]:
        served = self._require_loaded()
        return {"model": served.name, "version": served.version, "status": "ready"}

    def predict_raw(self, request: Any) -> dict[str, Any]:
        """Decode a REST request ourselves, so no payload can reach Seldon's decoder and 500.

        gRPC messages are not dicts: they take Seldon's own path into `predict()`.
        """
        if not isinstance(request, dict):
            raise SeldonNotImplementedError("not a JSON request")
        started = time.perf_counter()
        self._outcomes.add("requests")
        try:
            try:
                rows, names, form = protocol.decode(request)
            except InvalidInput as error:
                raise SeldonMicroserviceException(
                    str(error), status_code=400, reason="INVALID_INPUT"
                ) from None
            meta = request.get("meta") if isinstance(request.get("meta"), dict) else {}
            probabilities = self.predict(rows, names, meta)
        except SeldonMicroserviceException as error:
            self._outcomes.add(f"error:{error.status_code}:{error.reason}")
            raise
        self._request.milliseconds = (time.perf_counter() - started) * 1000
        class_names = self.class_names()
        if form == "tensor":
            data: dict[str, Any] = {
                "names": class_names,
                "tensor": {"shape": list(probabilities.shape),
                           "values": probabilities.ravel().tolist()},
            }  # fmt: skip
        else:
            data = {"names": class_names, "ndarray": probabilities.tolist()}
        response_meta = {"tags": self.tags(), "metrics": self.metrics()}
        if meta.get("puid"):
            response_meta["puid"] = meta["puid"]
        return {"data": data, "meta": response_meta}

    def predict(self, X: Any, feature_names: Any = None, meta: Any = None) -> np.ndarray:
        served = self._require_loaded()
        try:
            matrix = to_feature_matrix(X, feature_names, served.feature_names)
            probabilities = served.model.predict_proba(matrix)
        except InvalidInput as error:
            raise SeldonMicroserviceException(
                str(error), status_code=400, reason="INVALID_INPUT"
            ) from None
        except Exception as error:  # Seldon retries predict() on TypeError: never let one out
            log.exception("prediction failed")
            raise SeldonMicroserviceException(
                f"prediction failed: {type(error).__name__}", status_code=500,
                reason="PREDICTION_FAILED",
            ) from None  # fmt: skip
        puid = meta.get("puid") if isinstance(meta, dict) else None
        self.request_log.log(
            str(puid) if puid else new_request_id(), served.version, served.feature_names,
            matrix, served.class_names, probabilities,
        )  # fmt: skip
        winners = np.asarray(served.class_names)[probabilities.argmax(axis=1)]
        self._request.rows = len(matrix)
        self._request.classes = Counter(str(w) for w in winners)
        return probabilities

    def class_names(self) -> list[str]:
        return list(self._require_loaded().class_names)

    def tags(self) -> dict[str, str]:
        served = self._require_loaded()
        return {"model_name": served.name, "model_version": served.version, "run_id": served.run_id}

    def metrics(self) -> list[dict[str, Any]]:
        """Per-request custom metrics, each labelled `model` (as the drift service's are) and
        `predictor` (a rollout runs two side by side; `compare-predictors` tells them apart)."""
        metrics = self._metrics()
        labels = {"model": self.settings.model_name, "predictor": self.settings.predictor_name}
        for metric in metrics:
            metric["tags"] = {**metric.get("tags", {}), **labels}
        return metrics

    def _metrics(self) -> list[dict[str, Any]]:
        """Seldon adds these to its Prometheus endpoint (port PREDICTIVE_UNIT_METRICS_...)."""
        # Seldon accepts COUNTER, GAUGE and TIMER; rows per request = rows_total / requests.
        rows = getattr(self._request, "rows", 0)
        metrics: list[dict[str, Any]] = []
        milliseconds = getattr(self._request, "milliseconds", None)
        if milliseconds is not None:  # a histogram, in seconds: model_predict_seconds_bucket
            metrics.append({"type": "TIMER", "key": "model_predict_seconds", "value": milliseconds})
            self._request.milliseconds = None
        if rows:  # health checks also ask; only predictions count
            metrics += [
                {"type": "COUNTER", "key": "model_rows_total", "value": rows},
                {"type": "GAUGE", "key": "model_last_request_rows", "value": rows},
            ]
            metrics += [
                {"type": "COUNTER", "key": "model_predictions_total", "value": count,
                 "tags": {"predicted_class": name}}
                for name, count in self._request.classes.items()
            ]  # fmt: skip
            self._request.rows = 0
        for outcome, delta in self._outcomes.deltas().items():
            if not delta:
                continue
            if outcome == "requests":
                metrics.append({"type": "COUNTER", "key": "model_requests_total", "value": delta})
            else:
                _, status, reason = outcome.split(":", 2)
                metrics.append(
                    {
                        "type": "COUNTER",
                        "key": "model_request_errors_total",
                        "value": delta,
                        "tags": {"status": status, "reason": reason},
                    }
                )
        if self.request_log.enabled:  # both series exist from the first request, even at 0
            for name, delta in self.request_log.counts.deltas().items():
                metrics.append(
                    {"type": "COUNTER", "key": f"request_log_{name}_total", "value": delta}
                )
        if self.served is not None:  # "model version in service" on the dashboard
            metrics.append(
                {"type": "GAUGE", "key": "model_served_version", "value": int(self.served.version)}
            )
        if self.request_log.enabled:
            metrics.append(
                {"type": "GAUGE", "key": "request_log_queue_depth",
                 "value": self.request_log.queue_depth}
            )  # fmt: skip
        return metrics

    def init_metadata(self) -> dict[str, Any]:
        """Static description; Seldon asks for it before `load()`, so it uses the code schema."""
        return {
            "name": self.settings.model_name,
            "platform": "seldon",
            "inputs": [{"name": "features", "datatype": "FP64", "shape": [-1, len(FEATURES)]}],
            "outputs": [{"name": "probabilities", "datatype": "FP64", "shape": [-1, -1]}],
            "custom": {
                "feature_names": ",".join(FEATURES),
                "served_model": self.settings.served_model_reference,
            },
        }
