"""`make loop-demo`: the closed loop on one machine, twice, no human step.

Starts a fresh local stack (`make up`: version 1 trained and served), streams in-distribution
then shifted traffic through the model server, and follows the loop: the drift service
reports drift, Prometheus fires ModelDriftDetected, Alertmanager delivers it to the retrain
receiver, which starts the training deployment on the Prefect worker; the flow trains on
fresh labelled data and registers version 2; then the CI commands propose the staging overlay
to a local platform repo (merged as the platform's CI merges it) and open the promotion pull
request (against a local stand-in of the forge's review API: the one the tests use). Then
traffic goes back to normal until the alert resolves, drifts again, and the second incident
(the same alert, so the same fingerprint, firing anew) trains version 3 and updates the same
pull request. Last, a label shift: the traffic stays as it was (no drift), but the labels the
application sends to the labels topic for it follow a new rule; the quality monitor measures
the served version below its own test figure, Prometheus fires ModelQualityDegraded, and the
same receiver retrains on the newly labelled data (version 4, the same pull request). Each
step is printed with its time; the summary gives, per incident, the time from the first
shifted request to the pull request and each step's share. Everything started is stopped at
the end, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from {{ cookiecutter.package_name }} import local_stack  # noqa: E402
from {{ cookiecutter.package_name }}.data import FEATURES, TARGET, load_dataset  # noqa: E402
from {{ cookiecutter.package_name }}.delivery import staging  # noqa: E402
from {{ cookiecutter.package_name }}.devstack.processes import StackError  # noqa: E402
from {{ cookiecutter.package_name }}.drift.config import load_config  # noqa: E402
from {{ cookiecutter.package_name }}.jsonhttp import basic_authorization, request_json  # noqa: E402
from {{ cookiecutter.package_name }}.runtimes import protocol  # noqa: E402
from {{ cookiecutter.package_name }}.settings import (  # noqa: E402
    FLOW_NAME,
    MODEL_NAME,
    STAGING_ALIAS,
    load_settings,
)
from {{ cookiecutter.package_name }}.tasks import task  # noqa: E402
from tests.delivery.delivery_cli import platform_merges  # noqa: E402
from tests.delivery.review_apis import FakeReviewApi, fake_review_api  # noqa: E402
from tests.probes import metric_total, scrape  # noqa: E402

# The shift: one feature moves by this many of its standard deviations in served traffic and
# in the fresh labelled data that arrives with it.
SHIFTED_FEATURE = list(FEATURES)[2]
SHIFT = 1.5
ROWS_PER_REQUEST = 10
WINDOW_ROWS = load_config().window_size  # rows per window the drift service tests
IN_DISTRIBUTION_ROWS = 3 * WINDOW_ROWS
SHIFTED_ROWS = 8 * WINDOW_ROWS  # most windows of the last minutes drift (more if need be)
WINDOWS, DRIFTED = "drift_windows_processed_total", "drift_windows_drifted_total"
QUALITY_WINDOWS = "model_quality_windows_total"
PLATFORM_REPOSITORY = "acme/mlops-platform"
REVIEW_TOKEN = "loop-demo-token"  # only the local stand-in ever sees it


@dataclass
class Step:
    name: str
    at: float  # time.time()


class Loop:
    def __init__(self, stack: local_stack.Stack, timeout: float) -> None:
        self.stack = stack
        self.timeout = timeout
        self.steps: list[Step] = []
        self.started = time.time()

    def step(self, name: str, detail: str = "") -> None:
        now = time.time()
        self.steps.append(Step(name, now))
        clock = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        print(f"[{clock} +{now - self.started:6.1f} s] {name}{': ' + detail if detail else ''}",
              flush=True)  # fmt: skip

    def wait(self, what: str, check: Callable[[], object], timeout: float | None = None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.5)
        raise TimeoutError(f"timed out after {timeout or self.timeout:.0f} s waiting for {what}")

    # -- talking to the stack ------------------------------------------------------------------
    def get_json(self, url: str, body: object = None, headers=None) -> object:
        method = "POST" if body is not None else "GET"
        return request_json(method, url, body, headers=headers, timeout=10)

    def prefect_json(self, path: str, body: object = None) -> object:
        """Prefect's API, with the stack's credentials (it refuses calls without them)."""
        login = basic_authorization(self.stack.env["PREFECT_API_AUTH_STRING"])
        return self.get_json(f"{self.stack.url('prefect')}/api{path}", body, login)

    def drift_metric(self, name: str) -> float:
        return metric_total(scrape(f"{self.stack.url('drift')}/metrics"), name)

    def predict(self, rows) -> None:
        payload = protocol.request_body(rows.tolist(), list(FEATURES))
        answer = self.get_json(f"{self.stack.url('model_http')}{protocol.PREDICT_PATH}", payload)
        assert protocol.outputs(answer), answer

    def stream(self, frame) -> None:
        matrix = frame[list(FEATURES)].to_numpy()
        for start in range(0, len(matrix), ROWS_PER_REQUEST):
            self.predict(matrix[start : start + ROWS_PER_REQUEST])

    def firing_alert(self, name: str = "ModelDriftDetected") -> dict | None:
        alerts = self.get_json(f"{self.stack.url('prometheus')}/api/v1/alerts")["data"]["alerts"]
        return next(
            (a for a in alerts if a["labels"].get("alertname") == name
             and a["labels"].get("model") == MODEL_NAME and a["state"] == "firing"),
            None,
        )  # fmt: skip

    def firing_drift_alert(self) -> dict | None:
        return self.firing_alert("ModelDriftDetected")

    def predict_with_ids(self, rows, request_ids: list[str]) -> None:
        """One request per row, each with its own request id (what the labels will name)."""
        url = f"{self.stack.url('model_http')}{protocol.PREDICT_PATH}"
        for row, request_id in zip(rows.tolist(), request_ids, strict=True):
            answer = self.get_json(url, protocol.request_body([row], list(FEATURES), request_id))
            assert protocol.outputs(answer), answer

    def send_labels(self, request_ids: list[str], labels: list) -> None:
        """What the application does once the truth is known: one message per request on the
        labels topic (schemas/labels.schema.json)."""
        from kafka import KafkaProducer

        settings = load_settings({**os.environ, **self.stack.env})
        producer = KafkaProducer(**settings.kafka.kafka_python(), linger_ms=5)
        try:
            for request_id, label in zip(request_ids, labels, strict=True):
                body = {"request_id": request_id, "labels": [label], "source": "loop-demo"}
                producer.send(settings.labels_topic, json.dumps(body).encode(),
                              key=request_id.encode())  # fmt: skip
            producer.flush(30)
        finally:
            producer.close()

    def drift_flow_runs(self) -> list[dict]:
        return self.prefect_json(
            "/flow_runs/filter", {"flow_runs": {"tags": {"all_": ["retrain-alert"]}}}
        )

    def flow_run(self, run_id: str) -> dict:
        return self.prefect_json(f"/flow_runs/{run_id}")


def traffic(count: int, seed: int, shift: float) -> object:
    """`count` rows drawn from the training data with measurement noise of 5 % of each
    measurement's spread (resampled rows alone would repeat values, which a KS test reads as
    drift; a code or a flag, where no value holds under a quarter of the rows, keeps its
    values), SHIFTED_FEATURE moved by `shift` of its standard deviations."""
    rng = np.random.default_rng(seed)
    data = load_dataset()
    spread = data[list(FEATURES)].std().to_numpy()
    measured = np.array([data[f].value_counts(normalize=True).max() <= 0.25 for f in FEATURES])
    frame = data.sample(n=count, replace=True, random_state=seed)
    noise = rng.normal(0.0, 1.0, (count, len(FEATURES))) * (0.05 * spread * measured)
    frame[list(FEATURES)] = frame[list(FEATURES)].to_numpy() + noise
    frame[SHIFTED_FEATURE] = frame[SHIFTED_FEATURE] + shift * data[SHIFTED_FEATURE].std()
    return frame.reset_index(drop=True)


def cli(loop: Loop, *args: str, env: dict[str, str] | None = None) -> dict:
    """One of this repo's CI commands, as the pipeline runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", *args], cwd=REPO,
        env={**os.environ, **loop.stack.env, **(env or {})},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def local_platform_repo(directory: Path) -> str:
    """A bare git repo standing in for the platform repo, with one commit on main."""
    bare, seed = directory / "platform.git", directory / "platform-seed"
    shutil.rmtree(bare, ignore_errors=True)
    shutil.rmtree(seed, ignore_errors=True)
    seed.mkdir(parents=True)
    (seed / "README.md").write_text("Local stand-in of the platform repo (make loop-demo).\n")
    identity = ["-c", "user.name=loop-demo", "-c", "user.email=loop-demo@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "README.md"],
                 [*identity, "commit", "-q", "-m", "platform"]):  # fmt: skip
        subprocess.run(["git", "-C", str(seed), *args], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    shutil.rmtree(seed)
    return f"file://{bare}"


def run(directory: Path, timeout: float, incidents: int = 2) -> list[Step]:
    shutil.rmtree(directory, ignore_errors=True)  # a fresh registry: version 1, then 2, 3...
    print(f"starting a fresh local stack in {directory}", flush=True)
    try:
        stack = local_stack.up(directory)
        loop = Loop(stack, timeout)
        return follow(loop, incidents)
    finally:
        print("stopping everything the demo started", flush=True)
        local_stack.down(directory)


def follow(loop: Loop, incidents: int) -> list[Step]:
    registry = local_stack.registry_client(loop.stack)
    served = registry.get_model_version_by_alias(MODEL_NAME, STAGING_ALIAS).version
    loop.step("version served", f"{MODEL_NAME} version {served} (trained by make up)")

    health = f"{loop.stack.url('drift')}/health"
    loop.wait("the drift service to consume the request log",
              lambda: loop.get_json(health).get("assigned_partitions"))  # fmt: skip
    loop.stream(traffic(IN_DISTRIBUTION_ROWS, seed=1, shift=0.0))
    loop.wait("in-distribution windows", lambda: loop.drift_metric(WINDOWS) >= 3)
    drifted = loop.drift_metric(DRIFTED)
    loop.step("in-distribution traffic tested",
              f"{IN_DISTRIBUTION_ROWS} rows, {drifted:.0f} of 3 windows drifted")  # fmt: skip

    platform = local_platform_repo(loop.stack.directory)
    with fake_review_api(PLATFORM_REPOSITORY, REVIEW_TOKEN) as review_api:
        latest = served
        for number in range(1, incidents + 1):
            if number > 1:
                back_to_normal(loop, seed=10 * number)
            latest = incident(loop, number, registry, latest, platform, review_api)
        back_to_normal(loop, seed=10 * (incidents + 1))
        label_shift(loop, incidents + 1, registry, latest, platform, review_api)
    return loop.steps


def back_to_normal(loop: Loop, seed: int) -> None:
    """In-distribution traffic until the drift alert is no longer firing."""
    loop.step("traffic back to normal")
    windows = 0
    while loop.firing_drift_alert() is not None:
        before = loop.drift_metric(WINDOWS)
        loop.stream(traffic(WINDOW_ROWS, seed=seed + windows, shift=0.0))
        loop.wait("a window of normal traffic", lambda b=before: loop.drift_metric(WINDOWS) > b)
        windows += 1
        if windows > 40:
            raise RuntimeError("the drift alert still fires after 40 windows of normal traffic")
        time.sleep(1.5)  # Prometheus scrapes and evaluates every second
    loop.step("alert resolved", f"after {windows} windows of normal traffic")


def incident(loop: Loop, number: int, registry, previous: str, platform: str,
             review_api: FakeReviewApi) -> str:  # fmt: skip
    """Shifted traffic until the alert fires; the run it starts; its pull request."""
    # Labels for the shifted traffic arrive with it: the fresh data the retraining reads.
    fresh = traffic(len(load_dataset()), seed=3 + number, shift=SHIFT)
    fresh[[*FEATURES, TARGET]].to_csv(loop.stack.env["DATA_URI"], mode="a", header=False,
                                      index=False)  # fmt: skip
    earlier_runs = {run["id"] for run in loop.drift_flow_runs()}
    drifted = loop.drift_metric(DRIFTED)
    loop.step("first shifted request", f"incident {number}: {SHIFTED_FEATURE} + {SHIFT} sd")
    reported, sent, alert = False, 0, None
    while alert is None:  # whole windows, watching /metrics and the alert between them
        loop.stream(traffic(WINDOW_ROWS, seed=100 * number + sent // WINDOW_ROWS, shift=SHIFT))
        sent += WINDOW_ROWS
        if not reported and loop.drift_metric(DRIFTED) > drifted:
            loop.step("drift service reports drift", f"after {sent} shifted rows")
            reported = True
        if sent >= SHIFTED_ROWS:
            if sent == SHIFTED_ROWS:
                loop.step("shifted traffic sent",
                          f"{sent} rows in {sent // ROWS_PER_REQUEST} requests")  # fmt: skip
            alert = loop.firing_drift_alert()
        if sent > 6 * SHIFTED_ROWS:
            raise RuntimeError(f"no drift alert after {sent} shifted rows")
        if alert is None and sent >= SHIFTED_ROWS:
            time.sleep(1.0)
    if not reported:
        loop.wait("drift on /metrics", lambda: loop.drift_metric(DRIFTED) > drifted)
        loop.step("drift service reports drift", "after the last shifted row")
    alert = loop.wait("ModelDriftDetected firing in Prometheus", loop.firing_drift_alert)
    loop.step("alert firing in Prometheus", f"ModelDriftDetected since {alert['activeAt']}")
    return retrained_and_proposed(loop, earlier_runs, registry, previous, platform, review_api)


def label_shift(loop: Loop, number: int, registry, previous: str, platform: str,
                review_api: FakeReviewApi) -> str:  # fmt: skip
    """In-distribution traffic whose labels follow a new rule, until the quality alert fires;
    the run it starts (on the newly labelled data); its pull request."""
    # The newly labelled data is now the truth: the training data is replaced by it.
    fresh = relabelled(traffic(len(load_dataset()), seed=3 + number, shift=0.0))
    fresh[[*FEATURES, TARGET]].to_csv(loop.stack.env["DATA_URI"], index=False)
    earlier_runs = {run["id"] for run in loop.drift_flow_runs()}
    drifted, windows = loop.drift_metric(DRIFTED), loop.drift_metric(WINDOWS)
    measured = loop.drift_metric(QUALITY_WINDOWS)
    loop.step("first shifted request", f"incident {number}: the labels follow a new rule")
    sent, alert, reported = 0, None, False
    while alert is None:
        batch = traffic(ROWS_PER_REQUEST * 5, seed=1000 * number + sent, shift=0.0)
        ids = [f"loop-demo-{number}-{sent + i}" for i in range(len(batch))]
        loop.predict_with_ids(batch[list(FEATURES)].to_numpy(), ids)
        loop.send_labels(ids, [label_value(v) for v in relabelled(batch)[TARGET]])
        sent += len(batch)
        if not reported and loop.drift_metric(QUALITY_WINDOWS) > measured:
            loop.step("quality monitor measures a window", f"after {sent} labelled predictions")
            reported = True
        alert = loop.firing_alert("ModelQualityDegraded")
        if sent > 40 * WINDOW_ROWS:
            raise RuntimeError(f"no quality alert after {sent} labelled predictions")
    metric = next(iter(task.QUALITY_METRICS))  # the one the alert watches
    text = scrape(f"{loop.stack.url('drift')}/metrics")
    found = metric_total(text, "model_quality", metric=metric)
    threshold = metric_total(text, "model_quality_threshold", metric=metric)
    loop.step("alert firing in Prometheus", f"ModelQualityDegraded since {alert['activeAt']} "
              f"(last window's {metric} {found:.3f}, threshold {threshold:.3f})")  # fmt: skip
    # In-distribution traffic: a window may still drift now and then (the detector's false
    # positives), but the drift alert, which needs most windows to, does not fire.
    tested, now_drifted = loop.drift_metric(WINDOWS) - windows, loop.drift_metric(DRIFTED) - drifted
    if now_drifted > tested / 2 or loop.firing_drift_alert() is not None:
        raise RuntimeError("the label shift came with input drift: not what it shows")
    loop.step("no input drift meanwhile", f"{now_drifted:.0f} of {tested:.0f} windows drifted, "
              "ModelDriftDetected not firing")  # fmt: skip
    return retrained_and_proposed(loop, earlier_runs, registry, previous, platform, review_api)


def relabelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows with labels under a new rule: the world changed, the inputs did not."""
{%- if cookiecutter.task == "classification" %}
    classes = sorted(load_dataset()[TARGET].unique())
    rotate = dict(zip(classes, classes[1:] + classes[:1], strict=True))  # each class the next
    return frame.assign(**{TARGET: frame[TARGET].map(rotate)})
{%- else %}
    shift = 1.5 * load_dataset()[TARGET].std()  # the outcome moves by 1.5 of its sd
    return frame.assign(**{TARGET: frame[TARGET] + shift})
{%- endif %}


def label_value(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def retrained_and_proposed(loop: Loop, earlier_runs: set, registry, previous: str,
                           platform: str, review_api: FakeReviewApi) -> str:  # fmt: skip
    """The run the receiver started for this incident, the version it registered, the staging
    delivery and the promotion pull request."""

    def new_runs() -> list[dict]:  # the receiver's runs for this incident (any order)
        return [run for run in loop.drift_flow_runs() if run["id"] not in earlier_runs]

    runs = loop.wait("a flow run started by the retrain receiver", new_runs)
    run_id, run_name = runs[0]["id"], runs[0]["name"]
    loop.step("alert reached the retrain receiver", f"flow run {run_name} of {FLOW_NAME}/local")

    def finished():
        state = loop.flow_run(run_id)["state"]
        if state["type"] in ("FAILED", "CRASHED", "CANCELLED"):
            raise RuntimeError(f"the training run ended {state['type']}: {state.get('message')}")
        return state["type"] == "COMPLETED"

    loop.wait("the retraining run to complete", finished, timeout=loop.timeout + 300)
    new = registry.get_model_version_by_alias(MODEL_NAME, STAGING_ALIAS).version
    if new == previous:
        raise RuntimeError(f"the retrained version did not beat the champion (still {new})")
    loop.step("retrained on fresh data", f"version {new} registered, alias {STAGING_ALIAS}")

    forge = ["--platform-repo", platform, "--repository", PLATFORM_REPOSITORY,
             "--api-url", review_api.url]  # fmt: skip
    token = {"PLATFORM_REPO_TOKEN": REVIEW_TOKEN}
    delivered = cli(loop, "push-overlay", "--environment", "staging", "--image-tag", "loop-demo",
                    "--model-version", str(new), *forge, env=token)  # fmt: skip
    # The platform's CI: its check lets a model's staging-only request through, and it merges.
    platform_merges(platform, review_api, staging.BRANCH)
    loop.step("staging delivery merged", f"{delivered['url']} into main of {platform}")
    opened = cli(loop, "open-promotion", *forge, env=token)
    if review_api.problems:
        raise RuntimeError(f"the review API stand-in refused: {review_api.problems}")
    loop.step("promotion pull request opened", json.dumps(opened))
    return str(new)


def summary(steps: list[Step]) -> str:
    """Per incident: where the time goes from the first shifted request to the pull request."""
    lines = []
    starts = [i for i, step in enumerate(steps) if step.name == "first shifted request"]
    for number, first in enumerate(starts, start=1):
        last = next(i for i in range(first, len(steps))
                    if steps[i].name == "promotion pull request opened")  # fmt: skip
        total = steps[last].at - steps[first].at
        lines += ["", f"incident {number}: from the first shifted request to the promotion "
                  f"pull request: {total:.1f} s"]  # fmt: skip
        for previous, step in zip(steps[first:last], steps[first + 1 : last + 1], strict=True):
            took = step.at - previous.at
            lines.append(f"  {step.name:<36} {took:7.1f} s  {took / total:6.1%}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(REPO / ".stack-loop-demo"),
                        help="the stack's folder (wiped first)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=180, help="seconds per step")
    parser.add_argument("--incidents", type=int, default=2, choices=range(1, 6),
                        help="drift incidents in a row (each one retrains)")  # fmt: skip
    args = parser.parse_args()
    try:
        steps = run(Path(args.dir), args.timeout, args.incidents)
    except (StackError, RuntimeError, TimeoutError) as error:
        print(f"loop-demo failed: {error}", file=sys.stderr)
        return 1
    print(summary(steps))
    print("every step ran with no manual step; the stack is stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
