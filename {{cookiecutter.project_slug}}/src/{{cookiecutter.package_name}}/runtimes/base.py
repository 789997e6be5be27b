"""What every serving runtime offers: the contract shared code depends on.

A runtime is a directory `runtimes/<name>/` holding `protocol.py` (this interface: how the
server starts and how requests and answers look) and `server.py` (the model class the runtime
serves, importing the runtime's own packages). A runtime whose ROLLOUT_STRATEGIES go beyond
`replace` also has `rollout.py` (`delivery.rollout.RuntimeRollout`: how a rollout looks in the
production overlay), loaded only when one starts or runs. The generated repo keeps the one
runtime it was made with; `runtimes.protocol` is its `protocol.py`. Nothing outside the
directory asks which runtime it is: it asks the protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..settings import Settings


@runtime_checkable
class ServingRuntime(Protocol):
    """A runtime's protocol module; `tests/runtimes/test_interface.py` checks every name."""

    # The product name, as the CLI and the logs print it.
    NAME: str
    # "http" / "grpc" / "metrics": (the environment variable the runtime reads, its default).
    # The runtime's own variable names, so what a cluster operator injects wins.
    PORTS: Mapping[str, tuple[str, int]]
    PREDICT_PATH: str  # POST: one prediction request
    READY_PATH: str  # 200 only once the model is loaded
    LIVE_PATH: str  # 200 while the process runs
    # The promotion strategies its manifests can express (delivery/rollout.py; any but
    # replace is written by the runtime's rollout.py), and why the others are refused.
    ROLLOUT_STRATEGIES: tuple[str, ...]
    ROLLOUT_REFUSAL: str
    # The Kustomize base's file that declares the model server (k8s/base/runtimes/<name>/).
    MANIFEST: str

    def serving_python(self) -> Path:
        """The interpreter whose environment has the runtime installed."""
        ...

    def server_command(
        self, settings: Settings, workers: int, threads: int
    ) -> tuple[list[str], dict[str, str]]:
        """The server's command line and the environment it needs beside the settings'."""
        ...

    def local_server_env(self, http_port: int, grpc_port: int, metrics_port: int) -> dict[str, str]:
        """The environment that makes the server listen on these ports of 127.0.0.1 (the
        local stack, the tests, the benchmarks)."""
        ...

    def request_body(
        self, rows: list[list[float]], names: list[str] | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A prediction request every client in this repo sends."""
        ...

    def decode(self, request: dict[str, Any]) -> tuple[Any, list[str] | None, str]:
        """(rows, feature names, payload form) of a JSON request, or InvalidInput."""
        ...

    def outputs(self, answer: dict[str, Any]) -> list[list[float]]:
        """The model's outputs per row (tasks/: one value per output name)."""
        ...

    def output_names(self, answer: dict[str, Any]) -> list[str]: ...

    def served_version(self, answer: dict[str, Any]) -> str: ...

    def error_message(self, answer: dict[str, Any]) -> str: ...
