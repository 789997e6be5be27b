"""Time the training flow against a running MLflow server, and model logging alone.

Usage: MLFLOW_TRACKING_URI=http://127.0.0.1:5000 make bench   (or `python benchmarks/...`)
With no server given, one is started on a free port in a temporary folder. Prints the wall
time of the flow with tuning off and on (20 trials), and of `log_model` with explicit pip
requirements versus inferred ones. Target: the default flow, tuning off, in at most 20 s.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from {{ cookiecutter.package_name }}.devstack import services
from {{ cookiecutter.package_name }}.devstack.processes import free_port

TARGET_SECONDS = 20.0
TUNING_TRIALS = 20


def _timed(function, *args, **kwargs) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


def _log_model_times(model, example) -> tuple[float, float]:
    from importlib.metadata import version

    import mlflow

    from {{ cookiecutter.package_name }}.training import MODEL_REQUIREMENTS

    explicit = [f"{p}=={version(p)}" for p in MODEL_REQUIREMENTS]
    with mlflow.start_run(run_name="bench-log-model"):
        with_explicit = _timed(
            mlflow.sklearn.log_model, model, name="explicit", input_example=example,
            pip_requirements=explicit,
        )  # fmt: skip
        inferred = _timed(mlflow.sklearn.log_model, model, name="inferred", input_example=example)
    return with_explicit, inferred


def main() -> int:
    with ExitStack() as stack:
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            login = services.MlflowLogin.kept_in(folder / "auth")
            server = services.mlflow_server(
                free_port(), f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts", login,
                folder / "auth",
            ).run(folder / "mlflow.log")  # fmt: skip
            stack.callback(server.stop)
            os.environ["MLFLOW_TRACKING_URI"] = server.url
            os.environ.update(login.client_env)

        from prefect.testing.utilities import prefect_test_harness

        stack.enter_context(prefect_test_harness(server_startup_timeout=180))
        from {{ cookiecutter.package_name }}.data import FEATURES, load_dataset
        from {{ cookiecutter.package_name }}.model import build_model
        from {{ cookiecutter.package_name }}.training import training_flow

        os.environ["TUNING_TRIALS"] = "0"
        training_flow(reason="bench-warmup")  # imports, experiment and registered model exist
        off = _timed(training_flow, reason="bench-tuning-off")
        os.environ["TUNING_TRIALS"] = str(TUNING_TRIALS)
        on = _timed(training_flow, reason="bench-tuning-on")

        frame = load_dataset()
        model = build_model(0).fit(frame[list(FEATURES)].to_numpy(), frame.iloc[:, -1])
        explicit, inferred = _log_model_times(model, frame[list(FEATURES)].head(3))

    print(f"{'measurement':<44} {'seconds':>8}")
    print(f"{'training flow, tuning off':<44} {off:8.2f}")
    print(f"{f'training flow, tuning on ({TUNING_TRIALS} trials)':<44} {on:8.2f}")
    print(f"{'log_model, explicit pip requirements':<44} {explicit:8.2f}")
    print(f"{'log_model, inferred requirements':<44} {inferred:8.2f}")
    print(f"ratio inferred / explicit: {inferred / explicit:.1f}x")
    verdict = "within" if off <= TARGET_SECONDS else "OVER"
    print(f"default flow (tuning off): {off:.2f} s, {verdict} the {TARGET_SECONDS:.0f} s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
