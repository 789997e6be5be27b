"""The command line of this model: `{{ cookiecutter.project_slug }} <command>`.

Each CI step and Makefile target calls one of these commands, so behaviour is the same on a
laptop and in CI, and it is tested like any other code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .delivery import DeliveryError
from .jsonhttp import HttpError, request_json, status_of
from .settings import (
    CHAMPION_ALIAS,
    CI_PROVIDER,
    CONTAINER_REGISTRY,
    IMAGES,
    MODEL_NAME,
    PLATFORM_REPO_URL,
    SCORING_CHUNK_ROWS,
    SettingsError,
    load_settings,
)
from .template_update import TemplateError


def cmd_train(args: argparse.Namespace) -> int:
    if not _prefect_ready(args.prefect_wait):
        return 1
    from .training import training_flow

    result = training_flow(reason=args.reason)
    print(json.dumps({"version": result.version, "run_id": result.run_id, **result.metrics}))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    if not _prefect_ready(args.prefect_wait):
        return 1
    from dataclasses import asdict

    from .data import DataValidationError
    from .registry import RegistryError
    from .scoring import AtomicParquet, ScoringError, check_request, scoring_flow

    try:
        # Bad arguments and input are named in one line here, before Prefect's run (whose
        # log would print the flow's traceback); the flow checks them again for deployments.
        check_request(args.input, args.output, args.alias, args.version, args.chunk_rows)
        if args.output.endswith(".parquet"):
            AtomicParquet(args.output)
        result = scoring_flow(input_uri=args.input, output_uri=args.output, alias=args.alias,
                              version=args.version, chunk_rows=args.chunk_rows)  # fmt: skip
    except (ScoringError, DataValidationError, RegistryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(result)))
    return 0


def _prefect_ready(wait: float) -> bool:
    """Whether the flows can run: the Prefect API in PREFECT_API_URL answers within `wait`
    seconds, or none is set (Prefect then starts a throw-away local server)."""
    # That local server's first start in a new venv (bytecode not yet cached) can exceed
    # Prefect's 20 s default on a small machine, and it would send usage telemetry.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    api = os.environ.get("PREFECT_API_URL")
    if api and not _wait_for_http(f"{api.rstrip('/')}/health", wait):
        print(
            f"the Prefect API at {api} did not answer within {wait:g} s "
            "(start it, fix PREFECT_API_URL, or unset it for a throw-away local server)",
            file=sys.stderr,
        )
        return False
    return True


def _wait_for_http(url: str, timeout: float) -> bool:
    """True once `url` answers 200; a server still starting gets `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if status_of(url, timeout=2) == 200:
                return True
        except HttpError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.3)


def cmd_serve(args: argparse.Namespace) -> int:
    from .runtimes import protocol

    try:
        argv, env = protocol.server_command(load_settings(), args.workers, args.threads)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    os.environ.update(env)
    os.execv(argv[0], argv)  # the server replaces this process: signals reach it directly


def cmd_predict(args: argparse.Namespace) -> int:
    from .data import sample_rows
    from .runtimes import protocol

    settings = load_settings()
    rows = sample_rows(args.rows, seed=args.seed)
    payload = protocol.request_body(rows.to_numpy().tolist(), list(rows.columns))
    url = args.url or settings.prediction_url
    try:
        answer = request_json("POST", url, payload, timeout=args.timeout)
    except HttpError as error:
        if error.status is not None:
            print(f"prediction failed: HTTP {error.status}: {error.detail}", file=sys.stderr)
        else:
            print(f"cannot reach the model server at {url}: {error.reason}", file=sys.stderr)
        return 1
    print(json.dumps({"request": payload, "response": answer}, indent=2))
    return 0


def cmd_ci_env(args: argparse.Namespace) -> int:
    """KEY=VALUE lines for CI (appended to its environment file or a dotenv report)."""
    values = {
        "MODEL_NAME": MODEL_NAME,
        "PLATFORM_REPO_URL": PLATFORM_REPO_URL,
        "CI_PROVIDER": CI_PROVIDER,
        "REGISTRY_HOST": CONTAINER_REGISTRY.split("/")[0],
    }
    values |= {f"IMAGE_{component.upper()}": image for component, image in IMAGES.items()}
    print("\n".join(f"{key}={value}" for key, value in values.items()))
    return 0


def cmd_monitoring(args: argparse.Namespace) -> int:
    from .monitoring import write

    changed = write(Path(args.root))
    print(
        "\n".join(f"wrote {path}" for path in changed)
        or "k8s/base/monitoring/ and compose/rules.yml are up to date"
    )
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from . import registry
    from .delivery.registration import register_build

    settings = load_settings()
    try:
        client = registry.connect(settings)
    except registry.RegistryError as error:
        raise DeliveryError(str(error)) from None
    result = register_build(
        client, settings, args.commit, args.image, args.digest, args.pipeline_url
    )
    # What CI deploys is the version it trained, when that earned staging; otherwise nothing
    # new: push-overlay keeps what the environment runs (never what an alias says now). The
    # digest is taken from the registry now: the overlay pins it, and the server refuses
    # artifacts that change after this.
    earned = result["decision"] in ("first-champion", "promoted")
    result["deploy_version"] = result["version"] if earned else None
    result["deploy_digest"] = (
        registry.artifact_digest(registry.download_version(settings, result["version"]))
        if earned else None
    )  # fmt: skip
    if args.env_file:  # CI reads the version to deploy from here (empty: keep the current)
        with open(args.env_file, "a") as env_file:
            env_file.write(f"MODEL_VERSION={result['deploy_version'] or ''}\n")
            env_file.write(f"MODEL_DIGEST={result['deploy_digest'] or ''}\n")
    print(json.dumps(result))
    return 0


def _release(args: argparse.Namespace, current=None):
    """The release the arguments name; with no --model-version, the environment's current
    model version and digest (`current`) with the new images."""
    from .delivery.release import Release

    digests = {"serve": args.digest_serve, "drift": args.digest_drift, "train": args.digest_train}
    version, digest = str(args.model_version or ""), args.model_digest or None
    if not version:
        if current is None:
            raise DeliveryError(
                f"no model version given and {args.environment} runs none yet: nothing to "
                "keep (the version trained by this commit did not earn staging)"
            )
        version, digest = current.model_version, current.model_digest
    return Release(
        args.image_tag, version, {component: d for component, d in digests.items() if d}, digest
    )


def cmd_render_overlay(args: argparse.Namespace) -> int:
    from .delivery import overlay
    from .delivery.release import overlay_dir, read_release

    keep = None if args.model_version else read_release(Path(args.platform_dir), args.environment)
    release = _release(args, keep)
    changed = overlay.render(Path(args.platform_dir), args.environment, release)
    target = overlay_dir(Path(args.platform_dir), args.environment)
    print(json.dumps({"changed": changed, "path": str(target)}))
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from .delivery import scan

    return scan.main(Path(args.scanners))


def _platform_repo(args: argparse.Namespace, workdir: Path):
    from .delivery.platform_repo import PlatformRepo

    token = os.environ.get("PLATFORM_REPO_TOKEN") or None
    return PlatformRepo(args.platform_repo, workdir, token).clone()


def _reviews(args: argparse.Namespace):
    """The platform repo's pull/merge request API (token: PLATFORM_REPO_TOKEN)."""
    from .delivery import review
    from .delivery.promotion import repository_path

    repository = args.repository or repository_path(args.platform_repo)
    return review.connect(args.api_url, repository, os.environ.get("PLATFORM_REPO_TOKEN", ""))


def cmd_push_overlay(args: argparse.Namespace) -> int:
    import tempfile

    from .delivery import staging

    if args.environment != "staging":
        raise DeliveryError(
            f"push-overlay delivers staging; {args.environment} changes only through a "
            "reviewed pull request: use open-promotion"
        )
    if args.model_version:
        _release(args)  # invalid input stops here, before any clone
    reviews = _reviews(args)
    with tempfile.TemporaryDirectory() as tmp:
        repo = _platform_repo(args, Path(tmp))
        # With no --model-version, keep the model staging runs (or is about to run).
        outcome = staging.deliver(repo, reviews, lambda current: _release(args, current))
        print(json.dumps(outcome))
    return 0


def cmd_open_promotion(args: argparse.Namespace) -> int:
    import tempfile

    from .delivery import staging
    from .delivery.promotion import open_promotion
    from .delivery.release import read_release
    from .delivery.rollout import Strategy

    # Bad input stops here, before any clone.
    strategy = Strategy(args.strategy, args.traffic) if args.end is None else None
    if args.end is not None and (args.strategy != "replace" or args.traffic is not None):
        raise DeliveryError(f"--{args.end} ends the running rollout: no --strategy or --traffic")
    if args.compare_with and args.end is None:
        raise DeliveryError("--compare-with goes with --finish or --abort (a running rollout)")
    if not 0 <= args.wait_for_staging <= 3600:  # NaN fails this too
        raise DeliveryError(f"--wait-for-staging {args.wait_for_staging}: seconds from 0 to 3600")
    comparison = None
    if args.compare_with:  # read before any push: an unreachable Prometheus stops here
        from .delivery.comparison import Prometheus, compare, markdown

        prometheus = Prometheus(args.compare_with, args.compare_at)
        comparison = markdown(compare(prometheus, args.compare_window))
    reviews = _reviews(args)
    # A staging delivery this pipeline just opened merges once the platform's checks pass:
    # wait for it, so that the promotion is of what staging runs after it.
    pending = staging.pending(reviews, args.wait_for_staging) if args.end is None else None
    with tempfile.TemporaryDirectory() as tmp:
        repo = _platform_repo(args, Path(tmp))
        facts = None
        staged = read_release(repo.path, "staging")
        if staged is not None and not args.no_metrics:
            from . import registry
            from .delivery.registration import version_facts

            try:
                client = registry.connect(load_settings())
            except registry.RegistryError as error:
                raise DeliveryError(str(error)) from None
            facts = version_facts(client, staged.model_version)
        outcome = open_promotion(repo, reviews, facts, strategy, args.end, comparison, pending)
        if pending is not None:
            outcome["pending_delivery"] = pending.url
        print(json.dumps(outcome))
    return 0


def cmd_template_check(args: argparse.Namespace) -> int:
    from . import template_update

    status = template_update.check(Path(args.root))
    print(json.dumps(status.as_dict()))
    return 0


def cmd_template_update(args: argparse.Namespace) -> int:
    import tempfile

    from . import template_update
    from .delivery import review
    from .delivery.platform_repo import PlatformRepo
    from .delivery.template_request import propose_update

    if not args.propose:
        status = template_update.check(Path(args.root))
        if not status.behind:
            print(json.dumps({"action": "none", "reason": f"current ({status.current})"}))
            return 0
        found = template_update.apply(Path(args.root), status.tag, args.cruft)
        print(json.dumps({"action": "applied", "from": status.current, "to": status.latest,
                          "conflicts": found}))  # fmt: skip
        return 0
    # CI: this repo's own URL and path, and a token that may push a branch and open requests.
    chosen = review.provider()
    repository = args.repository or os.environ.get(chosen.repository_variable, "")
    server = os.environ.get(chosen.server_url_variable, "")
    url = args.repo_url or (f"{server}/{repository}.git" if server and repository else "")
    if not url or not repository:
        raise DeliveryError(
            f"--propose needs this repo's URL and path: --repo-url and --repository, or CI's "
            f"${chosen.server_url_variable} and ${chosen.repository_variable}"
        )
    token = os.environ.get("TEMPLATE_UPDATE_TOKEN", "")
    reviews = review.connect(args.api_url, repository, token, "TEMPLATE_UPDATE_TOKEN")
    with tempfile.TemporaryDirectory() as tmp:
        repo = PlatformRepo(url, Path(tmp), token or None)
        print(json.dumps(propose_update(repo, reviews, args.cruft)))
    return 0


{% if cookiecutter.include_drift_detection -%}
def cmd_drift(args: argparse.Namespace) -> int:
    import logging

    settings = load_settings()
    if not settings.kafka.bootstrap_servers:
        print(
            "drift service: KAFKA_BOOTSTRAP_SERVERS is not set: the drift service reads "
            "the request log from Kafka",
            file=sys.stderr,
        )
        return 1
    if problem := settings.kafka.missing_login:
        print(f"drift service: {problem}", file=sys.stderr)
        return 1
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Imported here: the checks above need neither the drift service nor its library.
    from .drift.config import DriftConfigError
    from .drift.detector import DriftDetectorError
    from .drift.service import main as run_drift_service
    from .registry import RegistryError

    try:
        return run_drift_service(settings)
    except (DriftConfigError, DriftDetectorError, RegistryError) as error:
        print(f"drift service: {error}", file=sys.stderr)
        return 1


def cmd_retrain_receiver(args: argparse.Namespace) -> int:
    import contextlib
    import logging

    settings = load_settings()
    if not os.environ.get("PREFECT_API_URL"):  # Prefect would start a throw-away server
        print("retrain receiver: set PREFECT_API_URL to the Prefect API", file=sys.stderr)
        return 1
    token_file = os.environ.get("RETRAIN_RECEIVER_TOKEN_FILE", "").strip()
    if not token_file:
        print("retrain receiver: set RETRAIN_RECEIVER_TOKEN_FILE to the file of the bearer "
              "token Alertmanager sends (a Secret's file)", file=sys.stderr)  # fmt: skip
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from prefect.client.orchestration import get_client

    from .retrain_receiver import BearerToken, PrefectRuns, RetrainReceiver, serve

    try:
        token = BearerToken(Path(token_file))
    except ValueError as error:
        print(f"retrain receiver: {error}", file=sys.stderr)
        return 1

    # Prefect's client reads PREFECT_API_URL and PREFECT_API_AUTH_STRING (or _KEY) itself.
    with get_client(httpx_settings={"timeout": 15.0}, sync_client=True) as client:
        receiver = RetrainReceiver(
            PrefectRuns(client, settings.retrain_deployment), settings.retrain_cooldown_seconds
        )
        server = serve(receiver, token, settings.retrain_receiver_host,
                       settings.retrain_receiver_port)  # fmt: skip
        print(
            f"retrain receiver on {settings.retrain_receiver_host}:{server.server_address[1]}",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0


{% endif -%}
def cmd_compare_predictors(args: argparse.Namespace) -> int:
    from .delivery.comparison import Prometheus, compare, markdown

    print(markdown(compare(Prometheus(args.prometheus, args.at), args.window)), end="")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from .local_stack import StackError, up

    try:
        up(Path(args.dir), alert_for=args.alert_for)
    except StackError as error:
        print(f"make up failed: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from .local_stack import down

    down(Path(args.dir))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .delivery.review import provider

    parser = argparse.ArgumentParser(prog="{{ cookiecutter.project_slug }}", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="run the training flow and register a version")
    train.add_argument("--reason", default="manual", help="why this run (recorded as a tag)")
    train.add_argument(
        "--prefect-wait",
        type=float,
        default=60.0,
        help="seconds to wait for the Prefect API in PREFECT_API_URL to answer",
    )
    train.set_defaults(handler=cmd_train)

    score = commands.add_parser(
        "score", help="run the batch scoring flow: a CSV or Parquet table in, Parquet out"
    )
    score.add_argument("--input", required=True, help="CSV or Parquet table (path or s3://...)")
    score.add_argument(
        "--output", required=True,
        help="the .parquet file to write (must not exist), or a folder for a new file",
    )  # fmt: skip
    which = score.add_mutually_exclusive_group()
    which.add_argument("--alias", default=CHAMPION_ALIAS, help="score with this alias's version")
    which.add_argument("--version", type=int, help="score with this version (not an alias)")
    score.add_argument("--chunk-rows", type=int, default=SCORING_CHUNK_ROWS,
                       help="rows scored at a time (memory follows it)")  # fmt: skip
    score.add_argument("--prefect-wait", type=float, default=60.0,
                       help="seconds to wait for the Prefect API (PREFECT_API_URL)")  # fmt: skip
    score.set_defaults(handler=cmd_score)

    serve = commands.add_parser("serve", help="serve the registered model (see runtimes/)")
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

    commands.add_parser(
        "retrain-receiver", help="Alertmanager webhook: a drift alert starts the training flow"
    ).set_defaults(handler=cmd_retrain_receiver)
{%- endif %}
    comparison = commands.add_parser(
        "compare-predictors", help="a rollout's default and candidate from Prometheus; verdict"
    )
    comparison.add_argument(
        "--prometheus", default=os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090"),
        help="Prometheus base URL (default: PROMETHEUS_URL)",
    )  # fmt: skip
    comparison.add_argument("--window", default="30m", help="how far back to look (30m, 2h)")
    comparison.add_argument("--at", type=float, help="evaluation time, Unix seconds (default now)")
    comparison.set_defaults(handler=cmd_compare_predictors)

    stack_dir = os.environ.get("STACK_DIR", ".stack")
    up = commands.add_parser("up", help="start the local stack of real processes (make up)")
    up.add_argument("--dir", default=stack_dir, help="where its data, logs and ports live")
    up.add_argument(
        "--alert-for", default="10s", help="the alerts' `for:` on the local stack (e.g. 10s)"
    )
    up.set_defaults(handler=cmd_up)
    down = commands.add_parser("down", help="stop the local stack (make down)")
    down.add_argument("--dir", default=stack_dir, help="the folder `up` used")
    down.set_defaults(handler=cmd_down)

    monitoring = commands.add_parser(
        "monitoring", help="regenerate the Grafana alert rules and dashboard JSON"
    )
    monitoring.add_argument("--root", default=".", help="the repo root")
    monitoring.set_defaults(handler=cmd_monitoring)

    commands.add_parser(
        "ci-env", help="print the model's names and image names as KEY=VALUE lines for CI"
    ).set_defaults(handler=cmd_ci_env)

    register = commands.add_parser(
        "register", help="tag the version trained from a commit with its image and pipeline"
    )
    register.add_argument("--commit", required=True, help="the commit the version was trained from")
    register.add_argument("--image", required=True, help="the serving image reference")
    register.add_argument("--digest", help="the serving image digest (sha256:...)")
    register.add_argument("--pipeline-url", help="link to the CI pipeline that built it")
    register.add_argument("--env-file", help="append MODEL_VERSION=<what staging serves> here")
    register.set_defaults(handler=cmd_register)

    def release_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--environment", required=True, help="staging or production")
        command.add_argument("--image-tag", required=True, help="tag of the built images")
        command.add_argument(
            "--model-version", required=True,
            help="registry version to serve ('': keep the one the environment runs)",
        )  # fmt: skip
        command.add_argument(
            "--model-digest", help="sha256 of the version's artifacts (`register` prints it)"
        )
        command.add_argument("--digest-serve", help="serving image digest (pins it exactly)")
        command.add_argument("--digest-drift", help="drift image digest")
        command.add_argument("--digest-train", help="training image digest (retrain receiver)")

    def platform_options(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--platform-repo",
            default=PLATFORM_REPO_URL,
            help="git URL of the platform repo (token: PLATFORM_REPO_TOKEN)",
        )
        command.add_argument("--repository", help="OWNER/NAME for the API (default: from the URL)")
        command.add_argument(
            "--api-url",
            help=f"REST API root (default: ${provider().api_url_variable}, or the public service)",
        )

    render = commands.add_parser(
        "render-overlay", help="write this model's overlay into a platform repo checkout"
    )
    render.add_argument("--platform-dir", required=True, help="checkout of the platform repo")
    release_options(render)
    render.set_defaults(handler=cmd_render_overlay)

    scan = commands.add_parser(
        "scan", help="zizmor and checkov over the CI file, the Dockerfile and both overlays"
    )
    scan.add_argument(
        "--scanners", default=".venv-scan/bin", help="where zizmor and checkov are (.venv-scan)"
    )
    scan.set_defaults(handler=cmd_scan)

    template_check = commands.add_parser(
        "template-check", help="the template version this repo is at, and the newest one"
    )
    template_check.add_argument("--root", default=".", help="the repo (default: here)")
    template_check.set_defaults(handler=cmd_template_check)

    template = commands.add_parser(
        "template-update",
        help="apply the newest template version here (or, with --propose, as a pull request)",
    )
    template.add_argument("--root", default=".", help="the repo (default: here)")
    template.add_argument(
        "--cruft", default=".venv-template/bin/cruft", help="cruft (make install puts it there)"
    )
    template.add_argument(
        "--propose", action="store_true",
        help="CI: on the branch template/update of a fresh clone, with one pull/merge request "
        "(token: TEMPLATE_UPDATE_TOKEN)",
    )  # fmt: skip
    template.add_argument("--repo-url", help="this repo's git URL (default: from CI's variables)")
    template.add_argument("--repository", help="OWNER/NAME (default: from CI's variables)")
    template.add_argument(
        "--api-url",
        help=f"REST API root (default: ${provider().api_url_variable}, or the public service)",
    )
    template.set_defaults(handler=cmd_template_update)

    push = commands.add_parser(
        "push-overlay", help="open or update the pull/merge request delivering staging's overlay"
    )
    release_options(push)
    platform_options(push)
    push.set_defaults(handler=cmd_push_overlay)

    promote = commands.add_parser(
        "open-promotion", help="open or update the pull/merge request promoting to production"
    )
    platform_options(promote)
    promote.add_argument(
        "--wait-for-staging", type=float, default=0.0, metavar="SECONDS",
        help="wait this long for an open staging delivery to be merged first (CI: after "
        "push-overlay)",
    )  # fmt: skip
    promote.add_argument(
        "--no-metrics", action="store_true", help="leave the registry comparison out of the body"
    )
    promote.add_argument(
        "--strategy", default="replace", choices=["replace", "canary", "shadow", "ab"],
        help="replace production, or run staging's version beside it (see delivery/rollout.py)",
    )  # fmt: skip
    promote.add_argument("--traffic", type=int, help="canary / ab: the candidate's percent")
    promote.add_argument(
        "--compare-with", metavar="PROMETHEUS_URL",
        help="with --finish / --abort: put compare-predictors' table and verdict in the body",
    )  # fmt: skip
    promote.add_argument("--compare-window", default="30m", help="the comparison's window")
    promote.add_argument("--compare-at", type=float, help="evaluate at this Unix time (replays)")
    ending = promote.add_mutually_exclusive_group()
    for end, what in (("finish", "the candidate replaces the default"),
                      ("abort", "the candidate is removed")):  # fmt: skip
        ending.add_argument(f"--{end}", dest="end", action="store_const", const=end,
                            help=f"end the running rollout: {what}")  # fmt: skip
    promote.set_defaults(handler=cmd_open_promotion)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except (DeliveryError, TemplateError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
