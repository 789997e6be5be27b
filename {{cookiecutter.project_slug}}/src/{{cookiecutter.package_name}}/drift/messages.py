"""Read request-log messages (`schemas/request_log.schema.json`) for the drift service.

A message the service cannot use is skipped with one of the SKIP_REASONS, which label the
`drift_messages_skipped_total` metric; nothing in a message can crash the service.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

SKIP_REASONS = ("too_large", "not_json", "schema", "other_model", "other_version", "wrong_width",
                "wrong_types")  # fmt: skip
# What the model server's request log can write: librdkafka's default message.max.bytes.
MAX_MESSAGE_BYTES = 1_000_000
_REQUIRED = {"request_id": str, "model_name": str, "model_version": str,
             "feature_names": list, "rows": list}  # fmt: skip


class SkippedMessage(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class RequestRows:
    model_version: str
    predictor: str
    # checked: n rows of finite numbers, one per model feature, then the `outputs` the model
    # answered for the row (when asked for)
    rows: list[list[float]]


def load_object(value: bytes | None, required: dict[str, type]) -> dict:
    """A message's JSON object, with each `required` key of its type; else skip (too_large,
    not_json, schema). The quality service reads its topics with it too."""
    if value and len(value) > MAX_MESSAGE_BYTES:
        raise SkippedMessage("too_large", f"{len(value)} bytes; at most {MAX_MESSAGE_BYTES}")
    try:
        message = json.loads(value) if value else None
    except (UnicodeDecodeError, ValueError):  # integers of over 4300 digits included
        raise SkippedMessage("not_json", "the message is not UTF-8 JSON") from None
    except RecursionError:
        raise SkippedMessage("not_json", "the message is nested too deeply") from None
    if not isinstance(message, dict):
        raise SkippedMessage("schema", "the message is not a JSON object")
    for key, kind in required.items():
        if not isinstance(message.get(key), kind):
            raise SkippedMessage("schema", f"{key!r} is missing or not a {kind.__name__}")
    return message


def parse(value: bytes | None, model_name: str, version: str, features: list[str],
          outputs: int = 0) -> RequestRows:  # fmt: skip
    """The rows of one message, if it is a valid log of this model version, each followed by
    the first `outputs` values of its prediction; else skip."""
    message = load_object(value, _REQUIRED)
    if message["model_name"] != model_name:
        raise SkippedMessage("other_model", f"model {message['model_name']!r}")
    if message["model_version"] != version:
        raise SkippedMessage("other_version", f"version {message['model_version']!r}")
    if message["feature_names"] != features:
        raise SkippedMessage("wrong_width", f"features {message['feature_names']!r}")
    rows = message["rows"]
    if not rows or any(not isinstance(row, list) or len(row) != len(features) for row in rows):
        raise SkippedMessage("wrong_width", f"rows must be lists of {len(features)} numbers")
    if outputs:
        predictions = message.get("predictions")
        if (
            not isinstance(predictions, list)
            or len(predictions) != len(rows)
            or any(not isinstance(p, list) or len(p) != outputs for p in predictions)
        ):
            raise SkippedMessage("wrong_width", f"predictions must be lists of {outputs} numbers, "
                                 "one per row")  # fmt: skip
        rows = [row + prediction for row, prediction in zip(rows, predictions, strict=True)]
    for row in rows:
        for cell in row:
            # bool is an int in Python, not a number in JSON Schema; an int like 10**400 has
            # no float (isfinite raises OverflowError)
            try:
                finite = type(cell) in (int, float) and math.isfinite(cell)
            except OverflowError:
                finite = False
            if not finite:
                raise SkippedMessage("wrong_types", f"{cell!r:.40} is not a finite number")
    predictor = message.get("predictor")
    return RequestRows(
        model_version=version,
        predictor=predictor if isinstance(predictor, str) else "default",
        rows=rows,
    )
