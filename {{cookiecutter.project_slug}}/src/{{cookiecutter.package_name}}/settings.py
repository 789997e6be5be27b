"""Every name, address, port and alias of this model, defined once.

Values come from the generated defaults below and can be overridden by environment variables
(the Kubernetes manifests set them through a ConfigMap). Nothing else in the package reads
the environment for these facts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_NAME = "{{ cookiecutter.model_name }}"
PACKAGE_NAME = "{{ cookiecutter.package_name }}"
TEMPLATE_VERSION = "{{ cookiecutter.__template_version }}"
# The GitOps repo Argo CD syncs: CI writes this model's Kustomize overlays there.
PLATFORM_REPO_URL = "{{ cookiecutter.platform_repo_url }}"
# Where CI runs: the review API the promotion request goes through (delivery/review/).
CI_PROVIDER = "{{ cookiecutter.ci_provider }}"
# The images CI builds, one per Dockerfile target (k8s/base/kustomization.yaml names them too).
CONTAINER_REGISTRY = "{{ cookiecutter.container_registry }}"
IMAGES = {
    "serve": f"{CONTAINER_REGISTRY}/{MODEL_NAME}",
    "train": f"{CONTAINER_REGISTRY}/{MODEL_NAME}-train",
{%- if cookiecutter.include_drift_detection %}
    "drift": f"{CONTAINER_REGISTRY}/{MODEL_NAME}-drift",
{%- endif %}
}

# The platform runs each environment in its own namespace, <NAMESPACE_PREFIX>-<environment>
# (its ApplicationSet's kustomize.namespace; the overlays set the same).
NAMESPACE_PREFIX = "{{ cookiecutter.kubernetes_namespace }}"

# Registry aliases (no stages). The training flow compares each new version with CHAMPION:
# the first version becomes CHAMPION; a later one that wins becomes CHALLENGER and STAGING
# (what the staging environment serves). The GitOps promotion moves PRODUCTION and CHAMPION
# once production runs it; while a rollout runs, CANDIDATE names the candidate predictor's
# version (delivery/rollout.py).
CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
STAGING_ALIAS = "staging"
PRODUCTION_ALIAS = "production"
CANDIDATE_ALIAS = "candidate"

# Whether this repo has the drift service (its metrics, alerts and dashboard panels).
DRIFT_DETECTION = {{ "True" if cookiecutter.include_drift_detection else "False" }}

# The serving runtime: the package runtimes/<SERVING_RUNTIME> holds it, and its protocol module
# the runtime's own facts (ports, server command, request bodies).
SERVING_RUNTIME = "{{ cookiecutter.serving_runtime | replace('-', '_') }}"

# What the model predicts: the module tasks/<TASK>.py holds the task's metrics, plots and outputs.
TASK = "{{ cookiecutter.task }}"
{%- if cookiecutter.task == "classification" %}
# The label `model_predictions_total` counts predictions by: the predicted class.
PREDICTION_LABEL = "predicted_class"
{%- else %}
# The label `model_predictions_total` counts predictions by: the bound of a bucket of predicted
# values, counted cumulatively as a Prometheus histogram's `le` (histogram_quantile reads it).
PREDICTION_LABEL = "le"
{%- endif %}

# Hyperparameter search trials per training run (0: train with the default parameters).
DEFAULT_TUNING_TRIALS = {{ 20 if cookiecutter.hyperparameter_tuning else 0 }}
# A new version must beat the champion on this held-out metric by more than the margin; True
# where a higher value is better.
{%- if cookiecutter.task == "classification" %}
PROMOTION_METRICS = {"accuracy": True, "f1_macro": True}
DEFAULT_PROMOTION_METRIC = "f1_macro"
{%- else %}
PROMOTION_METRICS = {"rmse": False, "mae": False, "r2": True}
DEFAULT_PROMOTION_METRIC = "rmse"
{%- endif %}

# The Prefect flows; their deployments and schedules live in prefect.yaml.
FLOW_NAME = f"train-{MODEL_NAME}"
SCORING_FLOW_NAME = f"score-{MODEL_NAME}"
# Batch scoring reads, scores and writes this many rows at a time: its memory follows it.
# The row group many Parquet writers make (DuckDB's default, for one): a chunk is then one
# row group read whole, not pieces of two. In `make bench-scoring` (a linear model, 1,000,000
# rows) 50,000-row chunks scored at 37-44 % of the model's own rows/s, these at 41-51 %,
# for 35 MiB more peak memory at 13 columns.
SCORING_CHUNK_ROWS = 122_880

{%- if cookiecutter.include_drift_detection %}
# The drift library (its package in drift/libraries/).
DRIFT_LIBRARY = "{{ cookiecutter.drift_library }}"
# The drift service's /metrics and /health port.
DRIFT_HTTP_PORT = 8000
# The Secret (key `token`) of the bearer token Alertmanager sends to the retrain receiver.
RETRAIN_TOKEN_SECRET = f"{MODEL_NAME}-retrain-token"
# Quality against ground truth (quality/, run by the drift service): how long a prediction
# waits for its labels, how long a label waits for a prediction not read yet, the labelled
# rows per measured window, and how much worse than the version's held-out figure (a share
# of it) counts as degraded (the ModelQualityDegraded alert).
QUALITY_HORIZON_SECONDS = 86400
QUALITY_GRACE_SECONDS = 300
QUALITY_WINDOW_ROWS = 200
QUALITY_TOLERANCE = 0.1
# At most this many predictions wait for labels (about 360 bytes each, and as many settled
# ids for late labels at about 240): beyond it the oldest counts as unlabelled at once. The
# drift service's memory limit (k8s/base/drift-service.yaml) is sized for it.
QUALITY_MAX_PENDING = 1_000_000
{%- endif %}

# Local state (SQLite registry, artifacts) when no MLflow server is configured.
DEFAULT_STATE_DIR = ".mlops"
ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
ARTIFACT_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


{%- if cookiecutter.include_drift_detection %}
DEPLOYMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
{%- endif %}


class SettingsError(ValueError):
    """An environment variable holds a value this model cannot use."""


# -- Kafka ------------------------------------------------------------------------------------
# The cluster's listener wants SASL/SCRAM-SHA-512 (the platform's infrastructure/kafka), as
# one of this model's own Kafka users per workload and environment (`kafka_names`).
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
# The platform's Kafka (Strimzi): its cluster, namespace and the ClusterSecretStore through
# which a model namespace reads its Kafka users' passwords (platform repo: infrastructure/kafka).
KAFKA_CLUSTER = "mlops"
KAFKA_NAMESPACE = "kafka"
KAFKA_USERS_STORE = "kafka-users"
# The request topic each environment gets (declared by delivery/kafka.py as a KafkaTopic):
# partitions bound how many drift consumers can share the work; a week of request logs is
# kept (enough to re-read after an outage, not a data lake).
REQUEST_TOPIC_PARTITIONS = 3
REQUEST_TOPIC_REPLICAS = 3
REQUEST_TOPIC_RETENTION_HOURS = 7 * 24
{%- if cookiecutter.include_drift_detection %}
# The labels topic (ground truth for the quality monitor): labels come at the rate of
# requests or slower, and are kept as long as the request log.
LABELS_TOPIC_PARTITIONS = 3
{%- endif %}
# The Secrets (keys username, password) the model server and the drift service log in with.
KAFKA_LOGIN_SECRETS = {"server": f"{MODEL_NAME}-kafka-server",
                       "drift": f"{MODEL_NAME}-kafka-drift"}  # fmt: skip


@dataclass(frozen=True)
class KafkaNames:
    """This model's names in the shared Kafka cluster for one environment: the request topic
    (and the labels topic), the drift service's consumer groups, and the two Kafka users (the
    model server may only write the topics, the drift service may only read them in its
    groups)."""

    topic: str
    group: str
    candidate_group: str  # a rollout's candidate has a drift service of its own
    server_user: str
    drift_user: str
{%- if cookiecutter.include_drift_detection %}
    labels_topic: str
    quality_group: str
    candidate_quality_group: str
{%- endif %}


def kafka_names(environment: str) -> KafkaNames:
    stem = f"{MODEL_NAME}-{environment}"
    return KafkaNames(topic=f"{stem}-requests", group=f"{stem}-drift",
                      candidate_group=f"{stem}-drift-candidate", server_user=f"{stem}-server",
{%- if cookiecutter.include_drift_detection %}
                      labels_topic=f"{stem}-labels", quality_group=f"{stem}-quality",
                      candidate_quality_group=f"{stem}-quality-candidate",
{%- endif %}
                      drift_user=f"{stem}-drift")  # fmt: skip


@dataclass(frozen=True)
class KafkaAccess:
    """Where Kafka is and how this process logs in; the producer and the consumer (librdkafka)
    and the tests' clients (kafka-python) take their configuration from here."""

    bootstrap_servers: str | None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None  # SASL_SSL: the broker's CA (else the system's)

    @property
    def authenticated(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def missing_login(self) -> str | None:
        """What a client of this access would lack (checked where a client is made: processes
        that share the configuration but never talk to Kafka need no login)."""
        login = {"KAFKA_USERNAME": self.username, "KAFKA_PASSWORD": self.password}
        missing = [name for name, value in login.items() if not value]
        if self.authenticated and missing:
            return (f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs a login: "
                    f"{' and '.join(missing)} not set (the workload's Kafka Secret)")  # fmt: skip
        return None

    def librdkafka(self) -> dict[str, str]:
        if problem := self.missing_login:
            raise SettingsError(problem)
        config = {"bootstrap.servers": self.bootstrap_servers or "",
                  "security.protocol": self.security_protocol}  # fmt: skip
        if self.authenticated:
            config |= {"sasl.mechanisms": self.sasl_mechanism,
                       "sasl.username": self.username or "",
                       "sasl.password": self.password or ""}  # fmt: skip
        if self.ca_file:
            config["ssl.ca.location"] = self.ca_file
        return config

    def kafka_python(self) -> dict[str, Any]:
        if problem := self.missing_login:
            raise SettingsError(problem)
        config: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                                  "security_protocol": self.security_protocol}  # fmt: skip
        if self.authenticated:
            config |= {"sasl_mechanism": self.sasl_mechanism,
                       "sasl_plain_username": self.username,
                       "sasl_plain_password": self.password}  # fmt: skip
        if self.ca_file:
            config["ssl_cafile"] = self.ca_file
        return config

    @property
    def env(self) -> dict[str, str]:
        """The variables that give a child process the same access."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers or "",
               "KAFKA_SECURITY_PROTOCOL": self.security_protocol}  # fmt: skip
        if self.authenticated:
            env |= {"KAFKA_SASL_MECHANISM": self.sasl_mechanism,
                    "KAFKA_USERNAME": self.username or "",
                    "KAFKA_PASSWORD": self.password or ""}  # fmt: skip
        if self.ca_file:
            env["KAFKA_SSL_CA_FILE"] = self.ca_file
        return env


def _kafka_access(env: Mapping[str, str]) -> KafkaAccess:
    protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").strip().upper()
    if protocol not in KAFKA_SECURITY_PROTOCOLS:
        raise SettingsError(f"KAFKA_SECURITY_PROTOCOL={protocol!r}: must be one of "
                            f"{', '.join(KAFKA_SECURITY_PROTOCOLS)}")  # fmt: skip
    mechanism = env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").strip().upper()
    if mechanism not in KAFKA_SASL_MECHANISMS:
        raise SettingsError(f"KAFKA_SASL_MECHANISM={mechanism!r}: must be one of "
                            f"{', '.join(KAFKA_SASL_MECHANISMS)}")  # fmt: skip
    access = KafkaAccess(_optional(env, "KAFKA_BOOTSTRAP_SERVERS"), protocol, mechanism,
                         _optional(env, "KAFKA_USERNAME"), _optional(env, "KAFKA_PASSWORD"),
                         _optional(env, "KAFKA_SSL_CA_FILE"))  # fmt: skip
    if access.ca_file and not Path(access.ca_file).is_file():
        raise SettingsError(f"KAFKA_SSL_CA_FILE={access.ca_file!r}: no such file")
    return access


{%- if cookiecutter.include_drift_detection %}


def _deployment_name(env: Mapping[str, str]) -> str:
    name = env.get("RETRAIN_DEPLOYMENT", "kubernetes").strip()
    if not DEPLOYMENT_NAME.match(name):
        raise SettingsError(
            f"RETRAIN_DEPLOYMENT={name!r}: must name a deployment of prefect.yaml "
            "(letters, digits, '.', '_', '-'), e.g. kubernetes or local"
        )
    return name
{%- endif %}


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name}={raw!r}: must be a port number from 1 to 65535")
    return int(raw)


def _count(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, str(default)).strip()
    if not raw.isdigit() or int(raw) < minimum:
        raise SettingsError(f"{name}={raw!r}: must be an integer >= {minimum}")
    return int(raw)


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, str(default)).strip()
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r}: must be a number from {low} to {high}")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


@dataclass(frozen=True)
class Settings:
    model_name: str
    state_dir: Path
    mlflow_tracking_uri: str
    mlflow_timeout_seconds: float
    experiment_name: str
    serving_alias: str
    pinned_model_version: int | None
    pinned_model_digest: str | None  # sha256:... of the version's artifacts (CI pins it)
    http_port: int
    grpc_port: int
    metrics_port: int
    kafka: KafkaAccess
    request_topic: str
{%- if cookiecutter.include_drift_detection %}
    labels_topic: str
{%- endif %}
    predictor_name: str
    data_uri: str | None
    random_seed: int
    test_size: float
    tuning_trials: int
    promotion_metric: str
    promotion_margin: float
{%- if cookiecutter.include_drift_detection %}
    drift_config_path: Path | None
    drift_http_host: str
    drift_http_port: int
    drift_consumer_group: str
    drift_start_offset: str
    retrain_receiver_host: str
    retrain_receiver_port: int
    retrain_cooldown_seconds: float
    retrain_deployment: str
    quality_consumer_group: str
    quality_state_dir: Path
    quality_horizon_seconds: float
    quality_grace_seconds: float
    quality_window_rows: int
    quality_tolerance: float
    quality_max_pending: int
{%- endif %}

    @property
    def uses_local_registry(self) -> bool:
        return self.mlflow_tracking_uri.startswith("sqlite:")

    @property
    def local_artifact_root(self) -> Path:
        return self.state_dir / "artifacts"

    @property
    def served_model_reference(self) -> str:
        """What the server loads: a pinned version when given, else the serving alias."""
        if self.pinned_model_version is not None:
            return f"version {self.pinned_model_version}"
        return f"alias {self.serving_alias!r}"

    @property
    def prediction_url(self) -> str:
        from .runtimes import protocol  # the runtime's modules import this one's constants

        return f"http://127.0.0.1:{self.http_port}{protocol.PREDICT_PATH}"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment (default: os.environ), validating every value."""
    from .runtimes import protocol  # the runtime's modules import this one's constants

    env = os.environ if env is None else env
    ports = protocol.PORTS
    state_dir = Path(env.get("MLOPS_STATE_DIR", DEFAULT_STATE_DIR)).resolve()
    tracking_uri = _optional(env, "MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir / 'mlflow.db'}"

    version_raw = _optional(env, "MODEL_VERSION")
    if version_raw is not None and not (version_raw.isdigit() and int(version_raw) > 0):
        raise SettingsError(f"MODEL_VERSION={version_raw!r}: must be a positive integer")
    digest = _optional(env, "MODEL_DIGEST")
    if digest is not None and not ARTIFACT_DIGEST.match(digest):
        raise SettingsError(f"MODEL_DIGEST={digest!r}: must be sha256: and 64 hex digits")
    if digest is not None and version_raw is None:
        raise SettingsError("MODEL_DIGEST is the digest of one version: set MODEL_VERSION too")

    alias = env.get("MODEL_ALIAS", STAGING_ALIAS).strip()
    if not ALIAS_PATTERN.match(alias):
        raise SettingsError(f"MODEL_ALIAS={alias!r}: must be letters, digits, '-' or '_'")

    metric = env.get("PROMOTION_METRIC", DEFAULT_PROMOTION_METRIC).strip()
    if metric not in PROMOTION_METRICS:
        raise SettingsError(
            f"PROMOTION_METRIC={metric!r}: must be one of {', '.join(PROMOTION_METRICS)}"
        )

{%- if cookiecutter.include_drift_detection %}

    start_offset = env.get("DRIFT_START_OFFSET", "latest").strip()
    if start_offset not in ("latest", "earliest"):
        raise SettingsError(f"DRIFT_START_OFFSET={start_offset!r}: must be latest or earliest")
    drift_config = _optional(env, "DRIFT_CONFIG")
    request_topic = env.get("REQUEST_TOPIC", f"{MODEL_NAME}-requests")
    labels_topic = env.get("LABELS_TOPIC", f"{MODEL_NAME}-labels")
    if labels_topic == request_topic:
        raise SettingsError(
            f"LABELS_TOPIC={labels_topic!r}: must differ from REQUEST_TOPIC (the quality "
            "monitor reads both and tells them apart by name)"
        )
{%- endif %}

    return Settings(
        model_name=MODEL_NAME,
        state_dir=state_dir,
        mlflow_tracking_uri=tracking_uri,
        mlflow_timeout_seconds=_number(env, "MLFLOW_CONNECT_TIMEOUT", 10.0, 0.1, 300.0),
        experiment_name=env.get("MLFLOW_EXPERIMENT_NAME", MODEL_NAME),
        serving_alias=alias,
        pinned_model_version=int(version_raw) if version_raw else None,
        pinned_model_digest=digest,
        # The runtime's own variable names, so the operator's injected ports win in the cluster.
        http_port=_port(env, *ports["http"]),
        grpc_port=_port(env, *ports["grpc"]),
        metrics_port=_port(env, *ports["metrics"]),
        kafka=_kafka_access(env),
        request_topic=env.get("REQUEST_TOPIC", f"{MODEL_NAME}-requests"),
{%- if cookiecutter.include_drift_detection %}
        # Ground truth: the feedback endpoint writes it, the quality monitor reads it.
        labels_topic=labels_topic,
{%- endif %}
        # The predictor a pod serves: rollouts run two side by side and set PREDICTOR_ID in
        # each (runtimes/<name>/rollout.py); a single predictor is "default".
        predictor_name=env.get("PREDICTOR_ID", "default"),
        data_uri=_optional(env, "DATA_URI"),
        random_seed=_count(env, "RANDOM_SEED", 42),
        test_size=_number(env, "TEST_SIZE", 0.25, 0.05, 0.5),
        tuning_trials=_count(env, "TUNING_TRIALS", DEFAULT_TUNING_TRIALS),
        promotion_metric=metric,
        promotion_margin=_number(env, "PROMOTION_MARGIN", 0.0, 0.0, 1.0),
{%- if cookiecutter.include_drift_detection %}
        # Drift: the config file the training flow fits with (default: the package's
        # drift.toml), and where the drift service listens and which group it consumes in.
        drift_config_path=Path(drift_config) if drift_config else None,
        drift_http_host=env.get("DRIFT_HTTP_HOST", "127.0.0.1").strip(),
        drift_http_port=_port(env, "DRIFT_HTTP_PORT", DRIFT_HTTP_PORT),
        drift_consumer_group=env.get("DRIFT_CONSUMER_GROUP", f"{MODEL_NAME}-drift").strip(),
        # Where a new consumer group starts: "latest" watches live traffic from now on.
        drift_start_offset=start_offset,
        # The Alertmanager webhook that starts retraining on a drift alert.
        retrain_receiver_host=env.get("RETRAIN_RECEIVER_HOST", "127.0.0.1").strip(),
        retrain_receiver_port=_port(env, "RETRAIN_RECEIVER_PORT", 8080),
        retrain_cooldown_seconds=_number(env, "RETRAIN_COOLDOWN_SECONDS", 3600.0, 0.0, 7 * 86400),
        # The deployment of prefect.yaml it starts ("local" on the local stack: `make up`).
        retrain_deployment=_deployment_name(env),
        # Quality: its own consumer group, where its state is saved (a volume in the
        # cluster), and the join's and the alert's parameters (see QUALITY_* above).
        quality_consumer_group=env.get("QUALITY_CONSUMER_GROUP", f"{MODEL_NAME}-quality").strip(),
        quality_state_dir=Path(env.get("QUALITY_STATE_DIR", str(state_dir / "quality"))),
        quality_horizon_seconds=_number(
            env, "QUALITY_HORIZON_SECONDS", QUALITY_HORIZON_SECONDS, 1.0, 90 * 86400
        ),
        quality_grace_seconds=_number(
            env, "QUALITY_GRACE_SECONDS", QUALITY_GRACE_SECONDS, 0.0, 7 * 86400
        ),
        quality_window_rows=_count(env, "QUALITY_WINDOW_ROWS", QUALITY_WINDOW_ROWS, minimum=1),
        quality_tolerance=_number(env, "QUALITY_TOLERANCE", QUALITY_TOLERANCE, 0.0, 1.0),
        quality_max_pending=_count(env, "QUALITY_MAX_PENDING", QUALITY_MAX_PENDING, minimum=1),
{%- endif %}
    )
