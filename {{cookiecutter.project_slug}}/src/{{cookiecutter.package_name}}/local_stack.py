"""`make up` / `make down`: the whole lifecycle of this model on one machine, as real processes.

MLflow, Prefect (server and a process worker), a Kafka-protocol broker (tansu), the model
server and Prometheus with this repo's own rules (`k8s/base/prometheusrule.yaml`), with drift
detection also the drift service, the retrain receiver and Alertmanager: each on 127.0.0.1 and
a free port, with its data and log in one folder (STACK_DIR, default `.stack/`). `up` starts
them in dependency order, waits for each one's health check, trains version 1 if the registry
has none and writes `.stack/stack.json` (what runs where) and `.stack/env` (`source` it to talk
to the stack). A service that does not come up stops everything already started and shows its
log. `down` stops them all (SIGTERM, then SIGKILL), newest first; the data stays for the next
`up`. The servers themselves (command lines, health checks) are devstack/services.py's.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .devstack import services
from .devstack.processes import (
    Service,
    StackError,
    Started,
    executable,
    free_port,
    group_alive,
    stop,
)
from .monitoring.rules import LOCAL_ALERT_FOR, local_rules
from .settings import (
    DRIFT_DETECTION,
    FLOW_NAME,
    MODEL_NAME,
    PACKAGE_NAME,
    STAGING_ALIAS,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_POOL = "local-process"
LOCAL_DEPLOYMENT = "local"
# The retrain receiver's cool-down on the local stack, in seconds (an hour in the cluster).
LOCAL_COOLDOWN_SECONDS = 20


@dataclass
class Stack:
    """What runs where: the ports, the pids and the environment that reaches it all."""

    directory: Path
    ports: dict[str, int]
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        from .runtimes import protocol  # numpy, via validation: only when a stack runs

        p = self.ports
        env = {
            "MLFLOW_TRACKING_URI": self.url("mlflow"),
            "PREFECT_API_URL": f"{self.url('prefect')}/api",
            # The APIs' credentials (Secrets in the cluster): made once, kept in the stack.
            "PREFECT_API_AUTH_STRING": services.prefect_auth_string(
                self.directory / "prefect" / "auth-token"
            ),
            **self.mlflow_login.client_env,
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{p['kafka']}",
            **protocol.local_server_env(p["model_http"], p["model_grpc"], p["model_metrics"]),
            "MODEL_ALIAS": STAGING_ALIAS,
            "DATA_URI": str(self.directory / "data" / "training.csv"),
            "PROMETHEUS_URL": self.url("prometheus"),
        }
        if DRIFT_DETECTION:
            env |= {
                "DRIFT_HTTP_PORT": str(p["drift"]),
                "RETRAIN_RECEIVER_PORT": str(p["receiver"]),
                "RETRAIN_DEPLOYMENT": LOCAL_DEPLOYMENT,
                # Incidents minutes apart on one machine: the cluster's cool-down is an hour.
                "RETRAIN_COOLDOWN_SECONDS": str(LOCAL_COOLDOWN_SECONDS),
                "ALERTMANAGER_URL": self.url("alertmanager"),
                # The quality monitor's saved state lives and goes with the stack (its Kafka
                # and its registry): never a figure of another stack's version 1.
                "QUALITY_STATE_DIR": str(self.directory / "quality"),
            }
        return env

    @property
    def mlflow_login(self) -> services.MlflowLogin:
        return services.MlflowLogin.kept_in(self.directory / "mlflow" / "auth")

    def url(self, name: str) -> str:
        return services.local_url(self.ports[name])

    def save(self) -> None:
        record = {"ports": self.ports, "pids": self.pids, "env": self.env}
        # Both hold the Prefect API's credentials: readable by this user only.
        _write_private(self.directory / "stack.json", json.dumps(record, indent=2) + "\n")
        lines = [f"export {key}={value}" for key, value in self.env.items()]
        _write_private(self.directory / "env", "\n".join(lines) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Stack | None:
        record_path = directory / "stack.json"
        if not record_path.exists():
            return None
        record = json.loads(record_path.read_text())
        return cls(directory, record["ports"], record.get("pids", {}))


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    path.chmod(0o600)  # a file made before keeps its old mode through O_CREAT


PORT_NAMES = (
    "mlflow", "prefect", "kafka", "model_http", "model_grpc", "model_metrics", "prometheus",
    *(("drift", "receiver", "alertmanager") if DRIFT_DETECTION else ()),
)  # fmt: skip


def infrastructure(stack: Stack) -> list[Service]:
    """What must run before a model can be trained and served."""
    d, p = stack.directory, stack.ports
    auth = stack.env["PREFECT_API_AUTH_STRING"]
    worker = services.prefect_worker(f"{stack.url('prefect')}/api", LOCAL_POOL, auth)
    worker.needs = ("prefect-server",)  # runs of the "local" deployment land on it
    return [
        services.mlflow_server(p["mlflow"], f"sqlite:///{d / 'mlflow' / 'mlflow.db'}",
                               d / "mlflow" / "artifacts", stack.mlflow_login,
                               d / "mlflow" / "auth"),
        services.prefect_server(p["prefect"], d / "prefect", auth),
        services.kafka_broker(p["kafka"]),
        worker,
    ]  # fmt: skip


def model_services(stack: Stack) -> list[Service]:
    """What serves and watches the model, once a version exists."""
    d, p = stack.directory, stack.ports
    served = [services.model_server(p["model_http"], p["model_grpc"], p["model_metrics"])]
    if DRIFT_DETECTION:
        served += [
            services.drift_service(p["drift"]),
            services.retrain_receiver(p["receiver"], receiver_token(stack)),
            services.alertmanager(p["alertmanager"], d / "alertmanager" / "alertmanager.yml",
                                  d / "alertmanager" / "data"),
        ]  # fmt: skip
    prometheus = services.prometheus(p["prometheus"], d / "prometheus" / "prometheus.yml",
                                     d / "prometheus" / "data")  # fmt: skip
    return [*served, prometheus]


# -- configuration files ----------------------------------------------------------------------
def write_configs(stack: Stack, alert_for: str) -> None:
    d, p = stack.directory, stack.ports
    for folder in ("mlflow", "prefect", "data", "prometheus", "alertmanager", "logs"):
        (d / folder).mkdir(parents=True, exist_ok=True)
    (d / "prometheus" / "rules.yml").write_text(yaml.safe_dump(local_rules(alert_for, REPO_ROOT)))
    targets = {"model-server": p["model_metrics"]}
    if DRIFT_DETECTION:
        targets["drift-service"] = p["drift"]
    prometheus = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"],
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics",
             "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for job, port in targets.items()
        ],
    }  # fmt: skip
    if DRIFT_DETECTION:
        prometheus["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{p['alertmanager']}"]}]}]
        }
        alertmanager = alertmanager_config(stack.url("receiver"), receiver_token(stack))
        (d / "alertmanager" / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager))
    (d / "prometheus" / "prometheus.yml").write_text(yaml.safe_dump(prometheus))


def receiver_token(stack: Stack) -> Path:
    """The bearer token Alertmanager sends to the retrain receiver (a Secret in the cluster):
    made once per stack, kept in its directory."""
    return services.token_file(stack.directory / "alertmanager" / "retrain-token")


def alertmanager_config(receiver_url: str, token: Path) -> dict:
    """The same route as k8s/base/retrain/retrain-receiver.yaml: the drift and quality alerts
    of this model go to the retrain receiver's webhook, with the receiver's bearer token."""
    from .retrain_receiver import RETRAIN_ALERTS  # a repo with drift detection only

    return {
        "route": {
            "receiver": "none",
            "group_by": ["alertname", "model", "namespace"],
            "group_wait": "1s",
            "group_interval": "5s",
            # A firing alert is sent again this often (an hour in the cluster): an incident
            # that came inside the cool-down starts its run at the first repeat after it.
            "repeat_interval": "10s",
            "routes": [
                {"receiver": "retrain", "matchers": [
                    f'alertname=~"{"|".join(RETRAIN_ALERTS)}"', f'model="{MODEL_NAME}"']},
            ],
        },
        "receivers": [
            {"name": "none"},
            {"name": "retrain", "webhook_configs": [
                {"url": f"{receiver_url}/alerts", "send_resolved": False,
                 "http_config": {"authorization": {"type": "Bearer",
                                                   "credentials_file": str(token)}}}]},
        ],
    }  # fmt: skip


# -- up and down ------------------------------------------------------------------------------
def process_env(stack: Stack) -> dict[str, str]:
    """The environment every process of the stack runs with (Prefect's home in the stack)."""
    return {
        **os.environ, **stack.env,
        "PREFECT_HOME": str(stack.directory / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }  # fmt: skip


def launch(stack: Stack, service: Service) -> Started:
    log_path = stack.directory / "logs" / f"{service.name}.log"
    started = service.start(log_path, process_env(stack), cwd=REPO_ROOT)
    stack.pids[service.name] = started.pid
    stack.save()  # `down` can stop it even if this `up` dies now
    return started


def start_all(
    stack: Stack,
    to_start: list[Service],
    log: Callable[[str], None],
    when_ready: dict[str, Callable[[], None]] | None = None,
) -> None:
    """Start every service as soon as the ones it `needs` are ready; return when all are.

    Independent services start together (MLflow and Prefect each take seconds to import):
    the stack is up in the time of its slowest chain, not of the sum. `when_ready[name]` is
    called as soon as that service is ready.
    """
    pending, running = list(to_start), []
    ready = set(stack.pids) - {s.name for s in to_start}
    when_ready = when_ready or {}
    while pending or running:
        for service in [s for s in pending if set(s.needs) <= ready]:
            running.append(launch(stack, service))
            pending.remove(service)
        if not running:
            names = ", ".join(f"{s.name} (needs {', '.join(s.needs)})" for s in pending)
            raise StackError(f"nothing can start: {names}")
        for item in list(running):
            if item.check():  # raises if it exited or is late
                elapsed = time.monotonic() - item.since
                log(f"  {item.service.name:<17} {item.url:<48} up in {elapsed:4.1f} s")
                ready.add(item.service.name)
                running.remove(item)
                if item.service.name in when_ready:
                    when_ready[item.service.name]()
        time.sleep(0.2)


@dataclass
class Step:
    """A one-off command with the stack's environment (deploying the flow, training)."""

    what: str
    process: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def begin(cls, stack: Stack, what: str, command: list[str]) -> Step:
        log_path = stack.directory / "logs" / f"{what}.log"
        with log_path.open("a") as output:
            process = subprocess.Popen(command, cwd=REPO_ROOT, env=process_env(stack),
                                       stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
        return cls(what, process, log_path)

    def finish(self, log: Callable[[str], None]) -> None:
        if self.process.wait() != 0:
            tail = self.log_path.read_text()[-3000:]
            raise StackError(f"{self.what} failed; its log ({self.log_path}):\n{tail}")
        elapsed = time.monotonic() - self.started
        log(f"  {self.what:<17} {'':<48} done in {elapsed:4.1f} s")


def registry_client(stack: Stack):
    """An MLflow client of the stack's server, in this process. MLflow's client reads its
    login only from the environment: this process's gets the stack's."""
    from mlflow.tracking import MlflowClient

    os.environ.update(stack.mlflow_login.client_env)
    return MlflowClient(stack.env["MLFLOW_TRACKING_URI"])


def has_staging_version(stack: Stack) -> bool:
    from mlflow.exceptions import MlflowException

    client = registry_client(stack)
    try:
        client.get_model_version_by_alias(MODEL_NAME, STAGING_ALIAS)
    except MlflowException:
        return False
    return True


def create_request_topic(stack: Stack) -> None:
    """The request-log topic{{ " and the labels topic" if cookiecutter.include_drift_detection }},
    created explicitly (as the platform's Kafka would have them)."""
    from .settings import load_settings

    settings = load_settings({**os.environ, **stack.env})
    services.create_topic(stack.env["KAFKA_BOOTSTRAP_SERVERS"], settings.request_topic)
{%- if cookiecutter.include_drift_detection %}
    services.create_topic(stack.env["KAFKA_BOOTSTRAP_SERVERS"], settings.labels_topic)
{%- endif %}


def write_training_data(stack: Stack) -> None:
    """The training data the local stack trains on (DATA_URI); fresh data can be appended."""
    path = Path(stack.env["DATA_URI"])
    if not path.exists():
        from .data import load_dataset

        load_dataset().to_csv(path, index=False)


def wait_for_first_scrapes(stack: Stack, log, timeout: float = 60) -> None:
    """Prometheus discovers its targets a few seconds after start: until it has scraped each
    once, counters that move now would never show in `increase()`."""
    url = f"{stack.url('prometheus')}/api/v1/targets"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            with urllib.request.urlopen(url, timeout=2) as response:
                targets = json.load(response)["data"]["activeTargets"]
            if targets and all(t["health"] == "up" for t in targets):
                log(f"  prometheus scrapes {', '.join(t['labels']['job'] for t in targets)}")
                return
        time.sleep(0.5)
    raise StackError(f"Prometheus did not scrape every target within {timeout:.0f} s ({url})")


def up(directory: Path, alert_for: str = LOCAL_ALERT_FOR, log=print) -> Stack:
    directory = directory.resolve()
    running = Stack.load(directory)
    if running is not None and any(group_alive(pid) for pid in running.pids.values()):
        raise StackError(f"a stack already runs from {directory}: `make down` first")
    stack = Stack(directory, {name: free_port() for name in PORT_NAMES})
    write_configs(stack, alert_for)
    write_training_data(stack)
    log(f"local stack in {directory} (logs in {directory / 'logs'})")
    steps: dict[str, Step] = {}
    commands = {
        "train-v1": [sys.executable, "-m", PACKAGE_NAME, "train", "--reason", "local-stack"],
        "deploy-flow": [executable("prefect"), "--no-prompt", "deploy", "--name",
                        LOCAL_DEPLOYMENT, "--version", "local"],
    }  # fmt: skip

    def begin(what: str) -> Callable[[], None]:
        return lambda: steps.setdefault(what, Step.begin(stack, what, commands[what]))

    # Each step starts as soon as what it needs answers, beside everything else: the
    # deployment's registration once the worker's pool exists; on a new registry, version 1's
    # training once MLflow answers (it waits for Prefect itself). The model's services start
    # once a version exists, while the deployment may still be registering.
    fresh = not (directory / "mlflow" / "mlflow.db").exists()
    when_ready = {"prefect-worker": begin("deploy-flow")}
    if fresh:
        when_ready["mlflow"] = begin("train-v1")
    try:
        start_all(stack, infrastructure(stack), log, when_ready)
        create_request_topic(stack)
        if not fresh and not has_staging_version(stack):
            begin("train-v1")()
        if "train-v1" in steps:
            steps["train-v1"].finish(log)
        start_all(stack, model_services(stack), log)
        steps["deploy-flow"].finish(log)
        wait_for_first_scrapes(stack, log)
    except BaseException:
        for step in steps.values():
            if step.process.poll() is None:
                step.process.kill()
                step.process.wait()
        down(directory, log=lambda line: None)
        raise
    stack.save()
    log(f"every service is up: `source {directory / 'env'}` to use them; `make down` stops them")
    log(f"deployment {FLOW_NAME}/{LOCAL_DEPLOYMENT} runs on the worker of pool {LOCAL_POOL}")
    return stack


def down(directory: Path, log=print) -> list[str]:
    """Stop every service of the stack in `directory`, newest first; their names."""
    directory = directory.resolve()
    stack = Stack.load(directory)
    if stack is None:
        log(f"no stack runs from {directory}")
        return []
    stopped = []
    for name, pid in reversed(list(stack.pids.items())):
        if stop(pid):
            stopped.append(name)
            log(f"  stopped {name}")
    (directory / "stack.json").unlink()
    return stopped
