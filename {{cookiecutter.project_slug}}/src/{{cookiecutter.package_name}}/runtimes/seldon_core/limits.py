"""The bounds Seldon's wrapper leaves to the model: the size of a body and gRPC's errors.

- REST: Seldon's Flask app reads and parses any body whole before the model sees it. Seldon
  registers a model's `model_error_handler` blueprint on its app; `request_limits` refuses a
  body over `MAX_REQUEST_BYTES` with a 413 in Seldon's error format, from its Content-Length
  before anything is read, or (a chunked body) once reading passes the limit.
- gRPC: messages over gRPC's limit (the same number of bytes) are refused by gRPC itself, but
  Seldon's servicer turns every error of the model into UNKNOWN with no message.
  `answer_errors_with_status()` gives each named error its status (a bad request is
  INVALID_ARGUMENT) with the message REST gives.
"""

from __future__ import annotations

import grpc
from flask import Blueprint, request
from seldon_core.flask_utils import SeldonMicroserviceException, jsonify
from werkzeug.exceptions import RequestEntityTooLarge

from ...validation import MAX_REQUEST_BYTES, too_large_message

GRPC_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}

request_limits = Blueprint("request_limits", __name__)


def _too_large(size: int | None):
    error = SeldonMicroserviceException(
        too_large_message(size), status_code=413, reason="REQUEST_TOO_LARGE"
    )
    response = jsonify(error.to_dict())
    response.status_code = 413
    return response


@request_limits.before_app_request
def _refuse_large_bodies():
    if request.content_length is not None:
        if request.content_length > MAX_REQUEST_BYTES:
            return _too_large(request.content_length)
        return None
    # A chunked body: read here, one byte past the limit at most, and kept as the request's
    # data for Seldon (werkzeug's own limit would cut such a body short without a word).
    data = request.stream.read(MAX_REQUEST_BYTES + 1)
    if len(data) > MAX_REQUEST_BYTES:
        return _too_large(None)
    request._cached_data = data  # what request.get_data() and get_json() read
    return None


@request_limits.app_errorhandler(RequestEntityTooLarge)
def _body_too_large(_error: RequestEntityTooLarge):
    return _too_large(None)


def answer_errors_with_status() -> None:
    """Wrap Seldon's gRPC `Predict` (once per process, before Seldon builds its gRPC server:
    the server keeps the method it finds then)."""
    from seldon_core.wrapper import SeldonModelGRPC

    seldon_predict = SeldonModelGRPC.Predict
    if getattr(seldon_predict, "answers_with_status", False):
        return

    def predict(self, request_grpc, context):
        try:
            return seldon_predict(self, request_grpc, context)
        except SeldonMicroserviceException as error:
            status = GRPC_STATUS.get(error.status_code, grpc.StatusCode.INTERNAL)
            context.abort(status, error.message)

    predict.answers_with_status = True
    SeldonModelGRPC.Predict = predict
