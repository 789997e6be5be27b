"""Shared fixtures: an isolated registry per session and the real processes the tests use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.devstack import services
from {{ cookiecutter.package_name }}.devstack.processes import free_port
from {{ cookiecutter.package_name }}.devstack.services import KafkaBroker
from {{ cookiecutter.package_name }}.settings import load_settings

from .delivery import recorded_series
from .delivery.git_repos import bare_platform_repo


@dataclass(frozen=True)
class ServerUrls:
    http: str
    metrics: str
    grpc_port: int
    pid: int  # leads the server's process group (its workers are in the same session)


@pytest.fixture(autouse=True)
def _restore_mlflow_uris() -> Iterator[None]:
    """The flow points MLflow's process-wide URIs at its server; put them back after a test
    that used another server, so no later test talks to a server that is gone."""
    import mlflow

    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state folder for the session (never the repo's own .mlops/)."""
    path = tmp_path_factory.mktemp("mlops-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_STATE_DIR", str(path))
        # Tests never call home: no usage telemetry from Prefect or MLflow.
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        patch.setenv("DO_NOT_TRACK", "true")
        for name in ("MLFLOW_TRACKING_URI", "MODEL_VERSION", "MODEL_ALIAS", "DATA_URI"):
            patch.delenv(name, raising=False)
        yield path


@pytest.fixture(scope="session")
def mlflow_server(state_dir: Path) -> Iterator[str]:
    """A real `mlflow server` (SQLite backend, proxied artifacts), once per session.

    Every test in the session talks to it through MLFLOW_TRACKING_URI, with its admin login
    (it refuses every call but /health without one).
    """
    login = services.MlflowLogin.kept_in(state_dir / "mlflow-auth")
    server = services.mlflow_server(
        free_port(), f"sqlite:///{state_dir / 'server.db'}", state_dir / "server-artifacts",
        login, state_dir / "mlflow-auth",
    ).run(state_dir / "mlflow-server.log")  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", server.url)
        for name, value in login.client_env.items():
            patch.setenv(name, value)
        yield server.url
    server.stop()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Flows run against a temporary local Prefect API for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `prefect server` on 127.0.0.1, once per session, with its API behind basic
    authentication; yields its API URL. Every Prefect client of the session (and each process
    it starts) sends the credentials: PREFECT_API_AUTH_STRING."""
    home = tmp_path_factory.mktemp("prefect-home")
    auth = services.prefect_auth_string(home / "auth-token")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # it is the API
    server = services.prefect_server(free_port(), home, auth).run(home / "server.log", env)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_API_AUTH_STRING", auth)
        yield f"{server.url}/api"
    server.stop()


@pytest.fixture(scope="session")
def trained(mlflow_server: str, prefect_harness: None):
    """The real training flow, run once against the real MLflow server.

    Every test that registers versions depends on it, so this is always version 1 (the
    champion) and what the session's model server serves.
    """
    from {{ cookiecutter.package_name }}.training import training_flow

    return training_flow(reason="test")


@pytest.fixture(scope="session")
def kafka(state_dir: Path) -> Iterator[KafkaBroker]:
    """A real Kafka-protocol broker with the request topic; the server logs to it."""
    # TEST_KAFKA_BOOTSTRAP_SERVERS: an external broker instead (e.g. Apache Kafka in a CI
    # service container), for the same tests.
    broker = KafkaBroker(state_dir / "kafka.log", os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS"))
    broker.start()
    broker.create_topic(load_settings().request_topic)
{%- if cookiecutter.include_drift_detection %}
    broker.create_topic(load_settings().labels_topic)  # the feedback endpoint writes it
{%- endif %}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers)
        yield broker
    broker.stop()


@pytest.fixture(scope="session")
def model_server(trained, kafka: KafkaBroker, state_dir: Path) -> Iterator[ServerUrls]:
    """The real model server (the serving runtime's own, from the serving environment)
    serving the trained model over HTTP, logging every request to the session's Kafka broker."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    server = services.model_server(http, grpc, metrics).run(state_dir / "model-server.log")
    yield ServerUrls(services.local_url(http), f"{services.local_url(metrics)}/metrics", grpc,
                     server.process.pid)  # fmt: skip
    server.stop()


@pytest.fixture
def platform(tmp_path: Path) -> str:
    """A bare platform repo with one commit on main (the remote CI pushes to); its URL."""
    return bare_platform_repo(tmp_path)


@pytest.fixture(scope="session")
def recorded_prometheus(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, float]]]:
    """A real Prometheus serving recorded series of a rollout's two predictors
    (recorded_series.py): its URL and, per scenario, the time to evaluate at."""
    server, ends = recorded_series.serve(tmp_path_factory.mktemp("prometheus"))
    yield server.url, ends
    server.stop()
