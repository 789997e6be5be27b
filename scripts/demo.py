"""`make demo`: bake a model repo with default answers, train, serve, predict, then stop.

Everything lands in build/demo/; the server is stopped even when a step fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = ROOT / "build" / "demo"
# The demo re-bakes into the same folder each time, so its venv's files have the same paths:
# their bytecode, kept here between demos (PYTHONPYCACHEPREFIX), lets a second demo start
# warm, as any repo does after its first run. A first demo compiles it (~25 s of imports).
BYTECODE_CACHE = ROOT / "build" / "bytecode"
SERVER_START_TIMEOUT = 180


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: list[str], cwd: Path, env: dict[str, str], quiet: bool = True) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(
            f"demo step failed: {' '.join(command)} (exit {result.returncode})\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result.stdout


def _wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the model server exited early; its log:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the model server was not healthy after {SERVER_START_TIMEOUT} s: {log}")


def _stop(server: subprocess.Popen) -> None:
    """The microservice forks REST, gRPC and metrics servers: stop its whole group."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
            server.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def run_demo(
    build_dir: Path = BUILD_DIR,
    report: Callable[[str], None] = print,
    bytecode_cache: Path | None = BYTECODE_CACHE,
) -> list[tuple[str, float]]:
    """Run every step, report progress, return (step, seconds) in order."""
    timings: list[tuple[str, float]] = []
    shutil.rmtree(build_dir, ignore_errors=True)  # a previous demo; not part of the timing
    started = time.monotonic()
    # The Prefect server the training flow reports to needs ~20 s on a new database: it boots
    # from the template's own venv (the Prefect version the repo pins) while the repo is baked
    # and installed, instead of after.
    prefect, prefect_url = _start_prefect(build_dir / "prefect")
    try:
        return _run_steps(
            build_dir, report, timings, started, (prefect, prefect_url), bytecode_cache
        )
    finally:
        _stop(prefect)


def _start_prefect(home: Path) -> tuple[subprocess.Popen, str]:
    home.mkdir(parents=True)
    port = _free_port()
    with (home / "server.log").open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("prefect")), "server", "start",
             "--host", "127.0.0.1", "--port", str(port)],
            start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PREFECT_HOME": str(home),
                 "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}/api"


def _run_steps(
    build_dir: Path,
    report: Callable[[str], None],
    timings: list[tuple[str, float]],
    started: float,
    prefect: tuple[subprocess.Popen, str],
    bytecode_cache: Path | None,
) -> list[tuple[str, float]]:
    def step(name: str) -> None:
        nonlocal started
        now = time.monotonic()
        timings.append((name, now - started))
        report(f"[{sum(t for _, t in timings):6.1f} s] {name} ({now - started:.1f} s)")
        started = now

    repo = Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(build_dir)))
    step(f"baked {repo}")

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI")}
    # The template's own venv already has uv: the model repo's `make install` reuses it.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if bytecode_cache is not None:
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    _run(["make", "install"], repo, env)
    step("installed the locked dependencies into .venv")

    # `make train` waits for the Prefect API (its --prefect-wait) if the server is still booting.
    output = _run(["make", "--silent", "train"], repo, {**env, "PREFECT_API_URL": prefect[1]})
    _stop(prefect[0])  # its two cores are the model server's now
    trained = json.loads(output.strip().splitlines()[-1])
    step(
        f"trained and registered version {trained['version']} (accuracy {trained['accuracy']:.3f})"
    )

    ports = {
        "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": str(_free_port()),
        "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": str(_free_port()),
        "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": str(_free_port()),
    }
    http = f"http://127.0.0.1:{ports['PREDICTIVE_UNIT_HTTP_SERVICE_PORT']}"
    log = repo / ".mlops" / "server.log"
    cli = str(repo / ".venv" / "bin" / repo.name)
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [cli, "serve"], cwd=repo, env={**env, **ports}, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_healthy(f"{http}/health/status", server, log)
        step(f"model server healthy at {http}")
        answer = _run([cli, "predict", "--url", f"{http}/api/v1.0/predictions"], repo, env)
        step("first prediction answered")
        report(answer)
        report(
            "Where everything is:\n"
            f"  model repo        {repo}\n"
            f"  MLflow registry   {repo / '.mlops' / 'mlflow.db'} (artifacts in .mlops/artifacts)\n"
            f"  browse it         cd {repo} && .venv/bin/mlflow ui "
            f"--backend-store-uri sqlite:///.mlops/mlflow.db\n"
            f"  server log        {log}\n"
            f"  try it yourself   cd {repo} && make serve   (then make predict)"
        )
    finally:
        _stop(server)
        report("model server stopped")
    return timings


if __name__ == "__main__":
    run_demo()
    sys.exit(0)
