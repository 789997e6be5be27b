"""This runtime's clients are MLServer's V2 clients (tests/runtimes/mlserver/clients.py)."""

from ..mlserver.clients import (
    empty_rows_request,
    grpc_answer,
    metadata_by_transport,
    outputs_by_transport,
)

__all__ = ["empty_rows_request", "grpc_answer", "metadata_by_transport",
           "outputs_by_transport"]  # fmt: skip
