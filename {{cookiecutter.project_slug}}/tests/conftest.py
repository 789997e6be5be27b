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


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private local registry for the whole session (never the repo's own .mlops/)."""
    path = tmp_path_factory.mktemp("mlops-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_STATE_DIR", str(path))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("MODEL_VERSION", raising=False)
        patch.delenv("MODEL_ALIAS", raising=False)
        yield path


@pytest.fixture(scope="session")
def trained(state_dir: Path):
    """Run the real training flow once (Prefect test harness, local MLflow registry)."""
    from prefect.testing.utilities import prefect_test_harness

    from {{ cookiecutter.package_name }}.training import training_flow

    with prefect_test_harness(server_startup_timeout=120):
        return training_flow(reason="test")


@pytest.fixture(scope="session")
def model_server(trained, state_dir: Path) -> Iterator[str]:
    """The real `seldon-core-microservice` process serving the trained model over HTTP."""
    ports = {
        "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": free_port(),
        "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": free_port(),
        "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": free_port(),
    }
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}}
    log = (state_dir / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{ports['PREDICTIVE_UNIT_HTTP_SERVICE_PORT']}"
    try:
        wait_for_http(f"{base}/health/status", process, timeout=90)
        yield base
    except Exception:
        print((state_dir / "server.log").read_text()[-5000:])
        raise
    finally:
        stop(process)
        log.close()
