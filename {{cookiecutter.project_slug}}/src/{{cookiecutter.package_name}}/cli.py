"""The command line of this model: `{{ cookiecutter.project_slug }} <command>`.

Each CI step and Makefile target calls one of these commands, so behaviour is the same on a
laptop, in GitHub Actions and in GitLab CI, and it is tested like any other code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .settings import SELDON_CLASS, SettingsError, load_settings


def cmd_train(args: argparse.Namespace) -> int:
    # Without PREFECT_API_URL Prefect starts a throw-away local server; its first start in a
    # new venv (bytecode not yet cached) can exceed Prefect's 20 s default on a small machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # That local server would otherwise try to send usage telemetry: opt in explicitly.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from .training import training_flow

    api = os.environ.get("PREFECT_API_URL")
    if api and not _wait_for_http(f"{api.rstrip('/')}/health", args.prefect_wait):
        print(f"the Prefect API at {api} did not answer within {args.prefect_wait:g} s "
              "(start it, fix PREFECT_API_URL, or unset it for a throw-away local server)",
              file=sys.stderr)  # fmt: skip
        return 1
    result = training_flow(reason=args.reason)
    print(json.dumps({"version": result.version, "run_id": result.run_id, **result.metrics}))
    return 0


def _wait_for_http(url: str, timeout: float) -> bool:
    """True once `url` answers 200; a server still starting gets `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.3)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    # The venv's own script first: the venv's bin/ need not be on PATH.
    beside_python = Path(sys.executable).with_name("seldon-core-microservice")
    executable = str(beside_python) if beside_python.exists() else None
    executable = executable or shutil.which("seldon-core-microservice")
    if executable is None:
        print("seldon-core-microservice is not installed: run `make install`", file=sys.stderr)
        return 1
    argv = [
        executable, SELDON_CLASS, "--service-type", "MODEL",
        "--http-port", str(settings.http_port), "--grpc-port", str(settings.grpc_port),
        "--metrics-port", str(settings.metrics_port),
        "--workers", str(args.workers), "--threads", str(args.threads),
    ]  # fmt: skip
    os.execv(executable, argv)  # the server replaces this process: signals reach it directly


def cmd_predict(args: argparse.Namespace) -> int:
    from .data import sample_rows

    settings = load_settings()
    rows = sample_rows(args.rows, seed=args.seed)
    payload = {"data": {"names": list(rows.columns), "ndarray": rows.to_numpy().tolist()}}
    request = urllib.request.Request(
        args.url or settings.prediction_url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        print(f"prediction failed: HTTP {error.code}: {error.read().decode()}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, TimeoutError) as error:
        print(f"cannot reach the model server at {request.full_url}: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"request": payload["data"], "response": answer}, indent=2))
    return 0


{% if cookiecutter.include_drift_detection -%}
def cmd_drift(args: argparse.Namespace) -> int:
    import logging

    settings = load_settings()
    if not settings.kafka_bootstrap_servers:
        print("drift service: KAFKA_BOOTSTRAP_SERVERS is not set: the drift service reads "
              "the request log from Kafka", file=sys.stderr)  # fmt: skip
        return 1
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Imported here: Alibi Detect takes seconds to import, the checks above do not need it.
    from .drift.config import DriftConfigError
    from .drift.detector import DriftDetectorError
    from .drift.service import main as run_drift_service
    from .registry import RegistryError

    try:
        return run_drift_service(settings)
    except (DriftConfigError, DriftDetectorError, RegistryError) as error:
        print(f"drift service: {error}", file=sys.stderr)
        return 1


{% endif -%}
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="{{ cookiecutter.project_slug }}", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="run the training flow and register a version")
    train.add_argument("--reason", default="manual", help="why this run (recorded as a tag)")
    train.add_argument(
        "--prefect-wait", type=float, default=60.0,
        help="seconds to wait for the Prefect API in PREFECT_API_URL to answer",
    )  # fmt: skip
    train.set_defaults(handler=cmd_train)

    serve = commands.add_parser("serve", help="serve the registered model with Seldon Core")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--threads", type=int, default=1)
    serve.set_defaults(handler=cmd_serve)

    predict = commands.add_parser("predict", help="send sample rows to the running server")
    predict.add_argument("--rows", type=int, default=1)
    predict.add_argument("--seed", type=int, default=0)
    predict.add_argument("--url", help="prediction endpoint (default: the local server)")
    predict.add_argument("--timeout", type=float, default=10.0)
    predict.set_defaults(handler=cmd_predict)
{%- if cookiecutter.include_drift_detection %}

    drift = commands.add_parser(
        "drift", help="watch the served version's request log for drift; export metrics"
    )
    drift.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    drift.set_defaults(handler=cmd_drift)
{%- endif %}
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
