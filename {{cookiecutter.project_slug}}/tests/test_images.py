"""The images, built here and run as their manifests run them (slow: builds take minutes).

Each image is built from the unmodified Dockerfile (docker, or buildah where no daemon runs;
where no registry supplies the base image, a stand-in is made and the build says so), then
started as the rendered staging manifest's pod spec runs its container: that user and
group, a read-only root filesystem, an empty writable directory at each volume mount and
nowhere else, the ConfigMap's and the container's environment with only the addresses of
the services changed to this machine's real ones (MLflow, Kafka) and the ports to free ones.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from {{ cookiecutter.package_name }}.devstack import images, services
from {{ cookiecutter.package_name }}.devstack.processes import StackError, free_port
from {{ cookiecutter.package_name }}.runtimes import protocol

from .delivery.manifests import RUNTIME, rendered_environments
from .probes import post

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        images.buildah_for_pods() is None,
        reason="running an image as its pod needs buildah and root",
    ),
]
# What a clean start-up never logs (a warning would need its reason in the manifest or the
# Dockerfile; there is none to give).
START_UP_PROBLEMS = ("[ERROR]", " - ERROR:", "Traceback", "Read-only file system",
                     "[WARNING]", " - WARNING:", "Warning:")  # fmt: skip


@pytest.fixture(scope="module")
def serve_image() -> str:
    buildah = images.buildah_for_pods()
    images.ensure_base(buildah)
    tag, _ = images.build("serve", buildah)
    return tag


def manifest_run(tmp_path, overrides: dict[str, str]) -> images.PodRun:
    """How the staging overlay runs the model server's container, pointed at local servers."""
    staging = rendered_environments(tmp_path)["staging"]
    server = next(d for d in staging if d["kind"] == RUNTIME.KIND)
    pod = RUNTIME.server_pod(server)
    container = pod["containers"][0]
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in staging
                   if d["kind"] == "ConfigMap"}  # fmt: skip
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= config_maps[source["configMapRef"]["name"]]  # the hashed name must resolve
    env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    assert "HOME" not in env
    return images.PodRun.of(pod, container, env | overrides)


def serve_overrides(mlflow_server: str, kafka, version: str) -> tuple[dict[str, str], int]:
    """The local servers' addresses, free ports, and the version CI would have pinned."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    local = {"MLFLOW_TRACKING_URI": mlflow_server, "MODEL_VERSION": version,
             "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}  # fmt: skip
    return local | protocol.local_server_env(http, grpc, metrics), http


def test_the_serve_image_runs_as_its_manifest_and_answers(serve_image, mlflow_server, trained,
                                                          kafka, tmp_path):  # fmt: skip
    overrides, http = serve_overrides(mlflow_server, kafka, trained.version)
    run = manifest_run(tmp_path, overrides)
    assert run.user != 0 and run.read_only_root and run.writable == ["/tmp"]
    log = tmp_path / "serve-image.log"
    started = images.run_as_pod(serve_image, run, log, services.local_url(http)
                                + protocol.READY_PATH, name="serve image").wait_ready()  # fmt: skip
    try:
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        status, answer = post(services.local_url(http) + protocol.PREDICT_PATH,
                              protocol.request_body(rows))  # fmt: skip
        assert status == 200, answer
        assert len(protocol.probabilities(answer)) == 2
        assert protocol.served_version(answer) == trained.version
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
    overrides, http = serve_overrides(mlflow_server, kafka, trained.version)
    run = replace(manifest_run(tmp_path, overrides), writable=[])
    log = tmp_path / "serve-image.log"
    running = images.run_as_pod(serve_image, run, log, services.local_url(http)
                                + protocol.READY_PATH, name="serve image", timeout=90)  # fmt: skip
    with pytest.raises(StackError):
        running.wait_ready()
    assert "No usable temporary directory found" in log.read_text()
