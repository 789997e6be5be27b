"""Shared fixtures: an isolated registry per session and the real processes the tests use."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll `url` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} was up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM the process group, then SIGKILL it if it does not exit in time.

    The Seldon microservice forks REST, gRPC and metrics servers: signalling only the
    parent would leave them running, so servers are started in their own session.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # children may outlive the leader briefly
        os.killpg(process.pid, signal.SIGKILL)


def start_server(command: list[str], log_path: Path, health_url: str, timeout: float, **kw):
    """Start a server in its own session; return it once `health_url` answers."""
    log = log_path.open("w")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kw
    )
    try:
        wait_for_http(health_url, process, timeout)
    except Exception:
        stop(process)
        log.close()
        raise RuntimeError(f"{command[0]} did not start:\n{log_path.read_text()[-4000:]}") from None
    return process


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state folder for the session (never the repo's own .mlops/)."""
    path = tmp_path_factory.mktemp("mlops-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_STATE_DIR", str(path))
        for name in ("MLFLOW_TRACKING_URI", "MODEL_VERSION", "MODEL_ALIAS", "DATA_URI"):
            patch.delenv(name, raising=False)
        yield path


@pytest.fixture(scope="session")
def mlflow_server(state_dir: Path) -> Iterator[str]:
    """A real `mlflow server` (SQLite backend, proxied artifacts), once per session.

    Every test in the session talks to it through MLFLOW_TRACKING_URI.
    """
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    process = start_server(
        [
            str(Path(sys.executable).with_name("mlflow")), "server",
            "--backend-store-uri", f"sqlite:///{state_dir / 'server.db'}",
            "--artifacts-destination", str(state_dir / "server-artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        state_dir / "mlflow-server.log", f"{uri}/health", timeout=180,
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri
    stop(process)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Flows run against a temporary local Prefect API for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def trained(mlflow_server: str, prefect_harness: None):
    """The real training flow, run once against the real MLflow server."""
    from {{ cookiecutter.package_name }}.training import training_flow

    return training_flow(reason="test")


@pytest.fixture(scope="session")
def model_server(trained, state_dir: Path) -> Iterator[str]:
    """The real `seldon-core-microservice` process serving the trained model over HTTP."""
    ports = {
        "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": free_port(),
        "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": free_port(),
        "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": free_port(),
    }
    base = f"http://127.0.0.1:{ports['PREDICTIVE_UNIT_HTTP_SERVICE_PORT']}"
    process = start_server(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve"],
        state_dir / "model-server.log", f"{base}/health/status", timeout=120,
        env={**os.environ, **{k: str(v) for k, v in ports.items()}},
    )  # fmt: skip
    yield base
    stop(process)
