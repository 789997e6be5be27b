"""Load the real model server with and without Kafka request logging; print a table.

Trains a model into a temporary MLflow server (with its login, as everywhere; the serving
environment has only MLflow's client, which reads no local registry), starts a tansu broker
and the model server
(`serve`, as the serving image runs it: the runtime's own server with its defaults), then
measures single-row requests/s with p50 and p99 at concurrency 1 and 8, rows/s for 1000-row
batches, and in-process decoding and predict as the floor.
Targets: throughput with logging on >= 95% of logging off; p99 at concurrency 1 <= 15 ms.
Usage: make bench-serving (traffic goes to 127.0.0.1 only and stops by itself).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from {{ cookiecutter.package_name }}.devstack import services
from {{ cookiecutter.package_name }}.devstack.processes import Started, free_port
from {{ cookiecutter.package_name }}.devstack.services import KafkaBroker
from {{ cookiecutter.package_name }}.runtimes import protocol

SINGLE_ROW_SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
BATCH_REQUESTS = int(os.environ.get("BENCH_BATCHES", "40"))


def _payloads() -> tuple[bytes, bytes]:
    """A single-row request and a 1000-row request (rows drawn with replacement)."""
    from {{ cookiecutter.package_name }}.data import FEATURES, load_dataset

    features = load_dataset()[list(FEATURES)]

    def payload(frame) -> bytes:
        rows = frame.to_numpy().tolist()
        return json.dumps(protocol.request_body(rows, list(frame.columns))).encode()

    return payload(features.head(1)), payload(features.sample(1000, replace=True, random_state=1))


def _load(port: int, body: bytes, concurrency: int, seconds: float, max_requests: int = 10**9):
    """Closed-loop load: `concurrency` keep-alive clients for `seconds`; latencies in s."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        nonlocal errors
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.perf_counter() < stop_at and len(mine) < max_requests // concurrency:
            started = time.perf_counter()
            connection.request("POST", protocol.PREDICT_PATH, body,
                               {"Content-Type": "application/json"})  # fmt: skip
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                with lock:
                    errors += 1
            mine.append(time.perf_counter() - started)
        connection.close()
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{errors} requests failed during the benchmark")
    return len(latencies) / elapsed, latencies


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def _serve(env: dict[str, str], folder: Path, label: str) -> tuple[Started, int]:
    http_port = free_port()
    server = services.model_server(http_port, free_port(), free_port())
    return server.run(folder / f"server-{label}.log", env), http_port


def _measure(port: int, single: bytes, batch: bytes) -> dict[str, float]:
    _load(port, single, 1, 1.0)  # warm-up
    rps1, lat1 = _load(port, single, 1, SINGLE_ROW_SECONDS)
    rps8, lat8 = _load(port, single, 8, SINGLE_ROW_SECONDS)
    batch_rps, _ = _load(port, batch, 1, 60.0, max_requests=BATCH_REQUESTS)
    return {
        "c1_rps": rps1, "c1_p50": _percentile(lat1, 50), "c1_p99": _percentile(lat1, 99),
        "c8_rps": rps8, "c8_p50": _percentile(lat8, 50), "c8_p99": _percentile(lat8, 99),
        "batch_rows_per_s": batch_rps * 1000,
    }  # fmt: skip


def _in_process_floor(single: bytes) -> float:
    """Decode, validate and predict in this process: what any server adds is above this."""
    from {{ cookiecutter.package_name }}.registry import load_served_model
    from {{ cookiecutter.package_name }}.settings import load_settings
    from {{ cookiecutter.package_name }}.validation import predict as model_predict
    from {{ cookiecutter.package_name }}.validation import to_feature_matrix

    served = load_served_model(load_settings())

    def predict() -> None:
        rows, names, _ = protocol.decode(json.loads(single))
        model_predict(served.model, to_feature_matrix(rows, names, served.feature_names))

    for _ in range(200):
        predict()
    count, started = 2000, time.perf_counter()
    for _ in range(count):
        predict()
    return (time.perf_counter() - started) / count


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        login = services.MlflowLogin.kept_in(folder / "auth")
        mlflow = services.mlflow_server(
            free_port(), f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts", login,
            folder / "auth",
        ).run(folder / "mlflow.log")  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        env |= {"MLFLOW_TRACKING_URI": mlflow.url, **login.client_env,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
        os.environ.update(env)
        os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        try:
            return _run(env, folder)
        finally:
            mlflow.stop()


def _run(env: dict[str, str], folder: Path) -> int:
    from prefect.testing.utilities import prefect_test_harness

    from {{ cookiecutter.package_name }}.settings import load_settings
    from {{ cookiecutter.package_name }}.training import training_flow

    with prefect_test_harness(server_startup_timeout=180):
        training_flow(reason="benchmark")
    single, batch = _payloads()
    floor = _in_process_floor(single)

    results = {}
    server, port = _serve({**env, "KAFKA_BOOTSTRAP_SERVERS": ""}, folder, "off")
    try:
        results["logging off"] = _measure(port, single, batch)
    finally:
        server.stop()

    broker = KafkaBroker(folder / "kafka.log")
    broker.start()
    broker.create_topic(load_settings().request_topic)
    server, port = _serve(
        {**env, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}, folder, "on"
    )
    try:
        results["logging on"] = _measure(port, single, batch)
    finally:
        server.stop()
        logged = len(broker.read(load_settings().request_topic, timeout=3))
        broker.stop()

    print(f"serving runtime: {protocol.NAME}")
    header = f"{'':<14}{'c1 req/s':>10}{'c1 p50':>9}{'c1 p99':>9}{'c8 req/s':>10}"
    header += f"{'c8 p50':>9}{'c8 p99':>9}{'1000-row rows/s':>17}"
    print(header)
    for label, r in results.items():
        print(
            f"{label:<14}{r['c1_rps']:>10.0f}{r['c1_p50'] * 1e3:>7.1f}ms{r['c1_p99'] * 1e3:>7.1f}ms"
            f"{r['c8_rps']:>10.0f}{r['c8_p50'] * 1e3:>7.1f}ms{r['c8_p99'] * 1e3:>7.1f}ms"
            f"{r['batch_rows_per_s']:>17.0f}"
        )
    print(f"{'in-process':<14}{1 / floor:>10.0f}{floor * 1e3:>7.2f}ms  (decode + predict: floor)")
    on, off = results["logging on"], results["logging off"]
    ratio1, ratio8 = on["c1_rps"] / off["c1_rps"], on["c8_rps"] / off["c8_rps"]
    print(f"throughput logging on / off: c1 {ratio1:.1%}, c8 {ratio8:.1%} (target >= 95%)")
    print(f"p99 at concurrency 1 with logging on: {on['c1_p99'] * 1e3:.1f} ms (target <= 15 ms)")
    print(f"messages logged to Kafka during the 'logging on' run: {logged}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
