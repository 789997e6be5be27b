"""Read the quality monitor's two topics: predictions from the request log
(`schemas/request_log.schema.json`) and ground truth from the labels topic
(`schemas/labels.schema.json`). A message it cannot use is skipped with a reason (the label
of `model_quality_messages_skipped_total`); nothing in a message can crash the monitor.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..drift.messages import SkippedMessage, load_object
from ..tasks import task as model_task

# Why a message of either topic was skipped.
SKIP_REASONS = (
    "too_large",
    "not_json",
    "schema",
    "other_model",
    "other_version",
    "wrong_width",
    "wrong_types",
)
MAX_REQUEST_ID = 200
_PREDICTION_KEYS = {
    "request_id": str,
    "timestamp": str,
    "model_name": str,
    "model_version": str,
    "output_names": list,
    "predictions": list,
}
_LABEL_KEYS = {"request_id": str, "labels": list}


@dataclass(frozen=True, slots=True)
class Prediction:
    request_id: str
    timestamp: float  # seconds since the epoch: the monitor's clock follows it
    predictor: str
    predicted: tuple  # per row, what the model predicted (`task.predicted`)


@dataclass(frozen=True, slots=True)
class Label:
    request_id: str
    values: tuple  # per row of the request, the truth (`task.label`)
    timestamp: float | None  # when the truth was observed, if the sender said


def encode_label(request_id: str, model_name: str, labels: Sequence[Any], source: str) -> bytes:
    """One message of schemas/labels.schema.json (what the feedback endpoint sends)."""
    return json.dumps(
        {
            "request_id": request_id,
            "model_name": model_name,
            "labels": list(labels),
            "timestamp": datetime.now(UTC).isoformat(),
            "source": source,
        },
        separators=(",", ":"),
    ).encode()


def parse_prediction(
    value: bytes | None, model_name: str, version: str, names: Sequence[str]
) -> Prediction:
    """A request-log message of this model version, reduced to what was predicted per row."""
    message = load_object(value, _PREDICTION_KEYS)
    request_id = _request_id(message)
    if message["model_name"] != model_name:
        raise SkippedMessage("other_model", f"model {message['model_name']!r:.60}")
    if message["model_version"] != version:
        raise SkippedMessage("other_version", f"version {message['model_version']!r:.20}")
    if message["output_names"] != list(names):
        raise SkippedMessage("wrong_width", f"outputs {message['output_names']!r:.80}")
    predictions = message["predictions"]
    if not predictions or any(not isinstance(p, list) or len(p) != len(names) for p in predictions):
        raise SkippedMessage("wrong_width", f"predictions must be lists of {len(names)} numbers")
    for row in predictions:
        for cell in row:
            if not _finite(cell):
                raise SkippedMessage("wrong_types", f"{cell!r:.40} is not a finite number")
    predictor = message.get("predictor")
    return Prediction(
        request_id,
        _timestamp(message["timestamp"]),
        predictor if isinstance(predictor, str) else "default",
        tuple(model_task.predicted(row, names) for row in predictions),
    )


def parse_label(
    value: bytes | None, model_name: str, names: Sequence[str], sent_at: float | None = None
) -> Label:
    """A label message for this model, each value checked as the task reads it; without a
    timestamp of its own, its time is `sent_at` (the Kafka record's)."""
    message = load_object(value, _LABEL_KEYS)
    request_id = _request_id(message)
    unknown = set(message) - {"request_id", "model_name", "labels", "timestamp", "source"}
    if unknown:
        raise SkippedMessage("schema", f"unknown key(s) {', '.join(sorted(unknown))[:80]}")
    if message.get("model_name", model_name) != model_name:
        raise SkippedMessage("other_model", f"model {message['model_name']!r:.60}")
    if not message["labels"]:
        raise SkippedMessage("wrong_width", "'labels' is empty: one label per row of the request")
    try:
        values = tuple(model_task.label(v, names) for v in message["labels"])
    except ValueError as error:
        raise SkippedMessage("wrong_types", str(error)) from None
    stamp = message.get("timestamp")
    if stamp is not None and not isinstance(stamp, str):
        raise SkippedMessage("schema", "'timestamp' is not a string")
    return Label(request_id, values, _timestamp(stamp) if stamp is not None else sent_at)


def _request_id(message: dict[str, Any]) -> str:
    request_id = message["request_id"]
    if not 0 < len(request_id) <= MAX_REQUEST_ID:
        raise SkippedMessage("schema", f"'request_id' must be 1 to {MAX_REQUEST_ID} characters")
    return request_id


def _timestamp(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SkippedMessage(
            "schema", f"'timestamp' {text!r:.40} is not an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:  # the schema says UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _finite(cell: Any) -> bool:
    # bool is an int in Python, not a number in JSON Schema; an int like 10**400 has no float
    try:
        return type(cell) in (int, float) and math.isfinite(cell)
    except OverflowError:
        return False
