"""The images, built here and run as their manifests run them (slow: builds take minutes).

Each image is built from the unmodified Dockerfile (docker, or buildah where no daemon runs;
where no registry supplies the base image, a stand-in is made and the build says so), then
started as the rendered staging manifest's pod spec runs its container: that user and
group, a read-only root filesystem, an empty writable directory at each volume mount and
nowhere else, the ConfigMap's and the container's environment with only the addresses of
the services changed to this machine's real ones (MLflow, Kafka) and the ports to free ones.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import replace
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.data import sample_rows
from {{ cookiecutter.package_name }}.delivery import contract
from {{ cookiecutter.package_name }}.devstack import images, services
from {{ cookiecutter.package_name }}.devstack.processes import (
    StackError,
    executable,
    free_port,
    tcp_open,
)
from {{ cookiecutter.package_name }}.runtimes import protocol
from {{ cookiecutter.package_name }}.settings import SERVING_RUNTIME

from .delivery.manifests import REPO, RUNTIME, rendered_environments
from .probes import get, post, prefect_client

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        images.buildah_for_pods() is None,
        reason="running an image as its pod needs buildah and root",
    ),
]
RUNTIME_TESTS = Path(__file__).parent / "runtimes" / SERVING_RUNTIME
# What a clean start-up never logs (a warning would need its reason in the manifest or the
# Dockerfile; there is none to give).
START_UP_PROBLEMS = ("[ERROR]", " - ERROR:", "Traceback", "Read-only file system",
                     "[WARNING]", " - WARNING:", "Warning:")  # fmt: skip


def built(target: str) -> str:
    buildah = images.buildah_for_pods()
    base = images.ensure_base(buildah)
    tag, _ = images.build(target, buildah, base=base)
    return tag


@pytest.fixture(scope="module")
def serve_image() -> str:
    return built("serve")


def manifest_run(tmp_path, overrides: dict[str, str], name: str | None = None) -> images.PodRun:
    """How the staging overlay runs a container (by default the model server's pod, as its
    operator composes it), pointed at the local servers."""
    staging = rendered_environments(tmp_path)["staging"]
    pod = next(p.spec for p in contract.pods_of(staging)
               if (p.server if name is None else p.owner.endswith(f"/{name}")))  # fmt: skip
    container = pod["containers"][0]
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in staging
                   if d["kind"] == "ConfigMap"}  # fmt: skip
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:  # a Secret's values come with the overrides
            env |= config_maps[source["configMapRef"]["name"]]  # the hashed name must resolve
    env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    if name is None:  # what the operator adds to the model server's container
        env |= RUNTIME.operator_env(staging)
    return images.PodRun.of(pod, container, env | overrides)


def local_logins() -> dict[str, str]:
    """What the manifests read from Secrets, for the local servers: MLflow's login (the Secret
    mlflow-login) is the session's. Kafka takes none: the manifests' SCRAM login needs the
    cluster's users, which the local broker cannot keep (devstack/services.kafka_broker), so
    the containers talk to it in plain."""
    return {**{name: os.environ[name]
               for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")},
            "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}  # fmt: skip


def serve_overrides(mlflow_server: str, kafka, version: str) -> tuple[dict[str, str], int, int]:
    """The local servers' addresses, free ports (HTTP and gRPC are returned), and the version
    CI would have pinned."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    local = {"MLFLOW_TRACKING_URI": mlflow_server, "MODEL_VERSION": version,
             "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, **local_logins()}  # fmt: skip
    return local | protocol.local_server_env(http, grpc, metrics), http, grpc


def test_the_serve_image_runs_as_its_manifest_and_answers(serve_image, mlflow_server, trained,
                                                          kafka, tmp_path):  # fmt: skip
    overrides, http, grpc = serve_overrides(mlflow_server, kafka, trained.version)
    run = manifest_run(tmp_path, overrides)
    assert run.user != 0 and run.read_only_root and run.writable == ["/tmp"]
    assert "HOME" not in run.env  # the manifest sets none: nothing may need one
    log = tmp_path / "serve-image.log"
    started = images.run_as_pod(serve_image, run, log, services.local_url(http)
                                + protocol.READY_PATH, name="serve image").wait_ready()  # fmt: skip
    try:
        rows = sample_rows(2).to_numpy().tolist()
        status, answer = post(services.local_url(http) + protocol.PREDICT_PATH,
                              protocol.request_body(rows))  # fmt: skip
        assert status == 200, answer
        assert len(protocol.outputs(answer)) == 2
        assert protocol.served_version(answer) == trained.version
        clients = RUNTIME_TESTS / "clients.py"  # the runtime's own client, where it has one
        if clients.exists():
            # Ready is HTTP's readiness; a runtime's gRPC server may bind a moment later.
            deadline = time.monotonic() + 60
            while not tcp_open(grpc):
                assert time.monotonic() < deadline, f"gRPC port {grpc} never opened"
                time.sleep(0.2)
            module = import_module(f".runtimes.{SERVING_RUNTIME}.clients", __package__)
            by_transport = module.outputs_by_transport(http, grpc, rows)
            for transport, found in by_transport.items():
                np.testing.assert_allclose(found, protocol.outputs(answer), err_msg=transport)
        # Prometheus scrapes the path every PodMonitor names, whatever the operator set.
        metrics_port = overrides[protocol.PORTS["metrics"][0]]
        status, text = get(f"{services.local_url(int(metrics_port))}/metrics")
        assert status == 200 and "model_requests_total" in text, text[:500]
        start_up = log.read_text()  # up to its first answers; stopping is another matter
    finally:
        started.stop()
    problems = [line for line in start_up.splitlines()
                if any(p in line for p in START_UP_PROBLEMS)]  # fmt: skip
    assert not problems, "\n".join(problems)


def test_without_its_writable_volume_the_serve_image_cannot_start(
    serve_image, mlflow_server, trained, kafka, tmp_path
):
    """The mutation check: the /tmp volume removed from the pod, the run must fail."""
    overrides, http, _ = serve_overrides(mlflow_server, kafka, trained.version)
    run = replace(manifest_run(tmp_path, overrides), writable=[])
    log = tmp_path / "serve-image.log"
    running = images.run_as_pod(serve_image, run, log, services.local_url(http)
                                + protocol.READY_PATH, name="serve image", timeout=90)  # fmt: skip
    with pytest.raises(StackError):
        running.wait_ready()
    assert "No usable temporary directory found" in log.read_text()


def test_the_sbom_ci_attests_lists_what_the_serve_image_holds(serve_image, tmp_path):
    """As CI makes it: scripts/image-sbom run inside the built image (buildah run)."""
    buildah = executable("buildah")
    create = [buildah, "from", "--pull=never", serve_image]
    container = subprocess.run(create, capture_output=True, text=True, check=True).stdout.strip()
    try:
        result = subprocess.run(
            [buildah, "run", "--isolation", "chroot", "--volume", f"{REPO / 'scripts'}:/scripts:ro",
             container, "--",
             "python", "/scripts/image-sbom", "localhost/model@sha256:" + "0" * 64],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        subprocess.run([buildah, "rm", container], capture_output=True)
    assert result.returncode == 0, result.stderr
    packages = {p["name"]: p["versionInfo"] for p in json.loads(result.stdout)["packages"]}
    lock = REPO / ("requirements-serve.lock" if (REPO / "requirements-serve.lock").exists()
                   else "requirements.lock")  # fmt: skip
    locked = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", lock.read_text(), re.M))
    python = {name for name in packages if name in locked}
    assert {"scikit-learn", "mlflow-skinny"} <= python
    assert all(packages[name] == locked[name] for name in python), "the lock's versions"
    assert "libc6" in packages and "{{ cookiecutter.package_name | replace('_', '-') }}" in packages


# How the platform's Prefect worker runs a training flow run (its job template in the platform
# repo, values/prefect-worker.yaml): this user, a read-only root filesystem, /tmp writable,
# the deployment's job variables as the environment, and Prefect's own command as the
# container's arguments.
TRAINING_JOB = {"user": 10001, "group": 10001, "read_only_root": True, "writable": ["/tmp"]}
PREFECT_COMMAND = ["prefect", "flow-run", "execute"]


def test_the_train_image_runs_a_flow_run_as_the_prefect_worker_runs_it(
    prefect_api, mlflow_server, tmp_path
):
    import asyncio

    import yaml

    from {{ cookiecutter.package_name }}.settings import FLOW_NAME

    from .training.registered import assert_one_version_registered_for

    tag = built("train")
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "FLOW_IMAGE": tag, "GIT_COMMIT": "img"}
    prefect = executable("prefect")
    for command in ([prefect, "work-pool", "create", "kubernetes", "--type", "kubernetes",
                     "--overwrite"], ["make", "--no-print-directory", "deploy-flow"]):  # fmt: skip
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    async def flow_run() -> str:
        async with prefect_client(prefect_api) as client:
            deployment = await client.read_deployment_by_name(f"{FLOW_NAME}/kubernetes")
            run = await client.create_flow_run_from_deployment(
                deployment.id, parameters={"reason": "image-test"})  # fmt: skip
            return str(run.id)

    run_id = asyncio.run(flow_run())
    deployment = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"][0]
    job_env = {k: str(v) for k, v in deployment["work_pool"]["job_variables"]["env"].items()}
    # What the worker adds to every job: its API address and credentials, and the run's id.
    job_env |= {"MLFLOW_TRACKING_URI": mlflow_server, "PREFECT_API_URL": prefect_api,
                "PREFECT_API_AUTH_STRING": os.environ["PREFECT_API_AUTH_STRING"],
                "PREFECT__FLOW_RUN_ID": run_id, **local_logins()}  # fmt: skip
    run = images.PodRun(**TRAINING_JOB, env=job_env)
    log = tmp_path / "train-image.log"
    status = images.run_to_completion(tag, run, log, args=PREFECT_COMMAND)
    assert status == 0, log.read_text()[-4000:]

    assert_one_version_registered_for(mlflow_server, "image-test")
{%- if cookiecutter.include_drift_detection %}


def test_the_drift_image_runs_as_its_manifest_and_tests_windows(mlflow_server, trained, kafka,
                                                                tmp_path):  # fmt: skip
    import json
    import uuid

    from {{ cookiecutter.package_name }}.data import load_dataset
    from {{ cookiecutter.package_name }}.drift.config import load_config
    from {{ cookiecutter.package_name }}.settings import MODEL_NAME

    from .drift.drift_process import NAMES, model_outputs, one_row_messages, produce, traffic
    from .probes import get, metric_total, scrape

    tag = built("drift")
    port = free_port()
    overrides = {"MLFLOW_TRACKING_URI": mlflow_server, "MODEL_VERSION": trained.version,
                 "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                 "DRIFT_HTTP_PORT": str(port), "DRIFT_HTTP_HOST": "127.0.0.1",
                 **local_logins()}  # fmt: skip
    staging = manifest_run(tmp_path, overrides, name=f"{MODEL_NAME}-drift")
    # /tmp, and the quality monitor's state (its PersistentVolumeClaim)
    assert staging.user != 0 and staging.read_only_root
    assert staging.writable == ["/tmp", "/var/lib/quality"]
    # The overlay names the environment's topics; this run reads topics of its own, made here,
    # so it counts exactly what it sent (the session's broker keeps every earlier test's
    # messages, and a producer of an earlier test may still deliver to the overlay's names).
    fresh = uuid.uuid4().hex[:8]
    topics = {name: f"{staging.env[name]}-{fresh}" for name in ("REQUEST_TOPIC", "LABELS_TOPIC")}
    run = replace(staging, env=staging.env | topics)
    for name in topics.values():
        kafka.create_topic(name)
    topic = topics["REQUEST_TOPIC"]
    url = services.local_url(port)
    log = tmp_path / "drift-image.log"
    started = images.run_as_pod(tag, run, log, f"{url}/health", name="drift image").wait_ready()
    try:
        deadline = time.monotonic() + 60

        def reading() -> bool:  # both consumers: where a new group starts is "latest"
            health = json.loads(get(f"{url}/health")[1])
            return bool(health.get("assigned_partitions")) and (
                len(health["quality"]["assigned_partitions"]) >= 2  # requests and labels
            )

        while not reading():
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        window = load_config().window_size
        rows = traffic(load_dataset()[NAMES].to_numpy(), window, seed=3)
        outputs = model_outputs(trained.version, rows)
        produce(kafka, topic, one_row_messages(rows, trained.version, outputs))
        deadline = time.monotonic() + 60
        while metric_total(scrape(f"{url}/metrics"), "drift_windows_processed_total") < 1:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)

        # The quality monitor read the same messages (its live count)...
        def quality() -> dict:
            return json.loads(get(f"{url}/health")[1])["quality"]

        def seen() -> str:  # what a failure shows: the monitor's view, and the service's log
            return f"{quality()}\n{log.read_text()[-3000:]}"

        deadline = time.monotonic() + 90
        while quality()["pending_predictions"] < window:
            assert time.monotonic() < deadline, seen()
            time.sleep(0.5)
        assert quality()["pending_predictions"] == window, seen()

        # ... and saved its state on its volume: the exported figures are the saved ones.
        def saved() -> bool:
            text = scrape(f"{url}/metrics")
            pending = metric_total(text, "model_quality_pending_predictions")
            return metric_total(text, "model_quality_saved_timestamp_seconds") > 0 and (
                pending == window
            )

        deadline = time.monotonic() + 90
        while not saved():
            assert time.monotonic() < deadline, seen()
            time.sleep(0.5)
        assert json.loads(get(f"{url}/health")[1])["quality"]["state"] == "saved"
        start_up = log.read_text()
    finally:
        started.stop()
    problems = [line for line in start_up.splitlines()
                if any(p in line for p in START_UP_PROBLEMS)]  # fmt: skip
    assert not problems, "\n".join(problems)
{%- endif %}
