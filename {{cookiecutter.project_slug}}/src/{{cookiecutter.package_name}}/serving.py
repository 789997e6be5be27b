"""The Seldon Core Python wrapper: `seldon-core-microservice` serves this class.

The model is loaded in `load()` at start-up (never on the first request), by the registry
alias or pinned version in the settings. Input is checked against the model signature so a
bad request gets a 400 naming the problem.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np
from seldon_core.flask_utils import SeldonMicroserviceException

from . import registry
from .data import FEATURES
from .settings import Settings, load_settings
from .validation import InvalidInput, to_feature_matrix

log = logging.getLogger(__name__)


class SeldonModel:
    """Serves the registered model; the class `settings.SELDON_CLASS` names."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.served: registry.ServedModel | None = None
        self._rows_last_request = 0
        self._predicted_classes: Counter[str] = Counter()

    def load(self) -> None:
        self.served = registry.load_served_model(self.settings)

    def _require_loaded(self) -> registry.ServedModel:
        if self.served is None:
            raise SeldonMicroserviceException(
                "the model is not loaded yet", status_code=503, reason="MODEL_NOT_LOADED"
            )
        return self.served

    def health_status(self) -> dict[str, str]:
        served = self._require_loaded()
        return {"model": served.name, "version": served.version, "status": "ready"}

    def predict(self, X: Any, feature_names: Any = None, meta: Any = None) -> np.ndarray:
        served = self._require_loaded()
        try:
            matrix = to_feature_matrix(X, feature_names, served.feature_names)
        except InvalidInput as error:
            raise SeldonMicroserviceException(
                str(error), status_code=400, reason="INVALID_INPUT"
            ) from None
        probabilities = served.model.predict_proba(matrix)
        self._rows_last_request = len(matrix)
        winners = np.asarray(served.class_names)[probabilities.argmax(axis=1)]
        self._predicted_classes = Counter(str(w) for w in winners)
        return probabilities

    def class_names(self) -> list[str]:
        return list(self._require_loaded().class_names)

    def tags(self) -> dict[str, str]:
        served = self._require_loaded()
        return {"model_name": served.name, "model_version": served.version, "run_id": served.run_id}

    def metrics(self) -> list[dict[str, Any]]:
        """Per-request custom metrics; Seldon adds them to its Prometheus endpoint."""
        if not self._rows_last_request:  # health checks also ask; only requests count
            return []
        # Seldon accepts COUNTER, GAUGE and TIMER; rows per request = rows_total / requests.
        metrics: list[dict[str, Any]] = [
            {"type": "COUNTER", "key": "model_rows_total", "value": self._rows_last_request},
            {"type": "GAUGE", "key": "model_last_request_rows", "value": self._rows_last_request},
        ]
        metrics += [
            {"type": "COUNTER", "key": "model_predictions_total", "value": count,
             "tags": {"predicted_class": name}}
            for name, count in self._predicted_classes.items()
        ]  # fmt: skip
        self._predicted_classes = Counter()
        self._rows_last_request = 0
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
