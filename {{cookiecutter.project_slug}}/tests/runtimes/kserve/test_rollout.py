"""Rollout strategies on KServe: a `canary` entry of the InferenceService in the production
overlay, rendered by kustomize, validated strictly, composed with its ServingRuntime as
KServe's controller composes it, and checked against the cluster contract; production's
predictor untouched; bad requests change nothing."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.delivery import DeliveryError, contract, kafka, release, rollout
from {{ cookiecutter.package_name }}.delivery.promotion import BRANCH
from {{ cookiecutter.package_name }}.delivery.rollout import Strategy
from {{ cookiecutter.package_name }}.runtimes.kserve import rollout as kserve_rollout
from {{ cookiecutter.package_name }}.settings import IMAGES, MODEL_NAME

from ...delivery.delivery_cli import TOKEN, merge_promotion, promote_argv, push_overlay, run_cli
from ...delivery.git_repos import remote_file
from ...delivery.manifests import kustomize, platform_contract, validate
from ...delivery.review_apis import fake_review_api
from ..rollouts import CANDIDATE, STABLE

SERVICE = "InferenceService"


def production(root: Path) -> list[dict]:
    directory = release.overlay_dir(root, "production")
    return kustomize(directory) + kustomize(directory / kafka.KAFKA_DIR)


def checked(root: Path) -> list[dict]:
    """Production's documents, each valid strictly, and all of them meeting the contract."""
    documents = production(root)
    for document in documents:
        validate(document)
    assert contract.check(documents, platform_contract(documents)) == []
    return documents


def inference_service(documents: list[dict]) -> dict:
    return next(d for d in documents if d["kind"] == SERVICE)


def pods(documents: list[dict]) -> dict[str, contract.Pod]:
    """The model server's pods as KServe composes them, by predictor path."""
    return {p.path: p for p in contract.pods_of(documents) if p.server}


def env(pod: contract.Pod, documents: list[dict]) -> dict[str, str]:
    """What the pod's container sees: its ConfigMap's values under its own variables."""
    container = pod.spec["containers"][0]
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in documents
                   if d["kind"] == "ConfigMap"}  # fmt: skip
    seen: dict[str, str] = {}
    for source in container.get("envFrom", []):
        seen |= config_maps.get((source.get("configMapRef") or {}).get("name"), {})
    return seen | {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


@pytest.mark.parametrize(
    ("strategy", "percent", "replicas"),
    [(Strategy("canary", 10), 10, 1), (Strategy("ab", 50), 50, 1), (Strategy("canary", 1), 1, 1),
     (Strategy("ab", 75), 75, 2), (Strategy("shadow"), 0, 2)],
    ids=["canary-10", "ab-50", "canary-1", "ab-75", "shadow"],
)  # fmt: skip
def test_each_strategy_adds_one_pinned_canary_entry_with_the_traffic_asked_for(
    platform_dir, strategy, percent, replicas
):
    before = inference_service(checked(platform_dir))
    rollout.start(platform_dir, strategy)
    documents = checked(platform_dir)
    service = inference_service(documents)
    (entry,) = service["spec"]["canary"]
    assert entry["trafficPercent"] == percent
    predictor = entry["predictor"]
    # Its share of production's floor of two pods; a shadow gets a copy of every request.
    assert predictor["name"] == "candidate" and predictor["minReplicas"] == replicas
    assert predictor["labels"] == {
        "mlops/predictor-role": "candidate", "mlops/model-version": "5",
        "mlops/image-tag": "bbbbbbb", "mlops/rollout-strategy": strategy.name,
    }  # fmt: skip
    assert predictor["annotations"]["mlops/model-digest"] == CANDIDATE.model_digest
    # Production's predictor is the one it ran before, but for a shadow's copy of requests
    # and its floor, raised by the candidate's replicas: KServe lowers it by as many once the
    # candidate is ready, and production keeps its two pods.
    stable = copy.deepcopy(service["spec"]["predictor"])
    mirror = stable["model"].pop("env", None)
    assert stable.pop("minReplicas") == before["spec"]["predictor"]["minReplicas"] + replicas
    assert stable == {k: v for k, v in before["spec"]["predictor"].items() if k != "minReplicas"}
    if strategy.name == "shadow":
        assert mirror == [{"name": "MIRROR_URL", "value": kserve_rollout.mirror_url()}]
        assert kserve_rollout.mirror_url() == (
            f"http://{MODEL_NAME}-candidate-predictor.{release.namespace('production')}"
            f".svc.cluster.local:80/v2/models/{MODEL_NAME}/infer"
        )
    else:
        assert mirror is None

    # What each predictor's pods run, composed with the ServingRuntime as KServe does it.
    servers = pods(documents)
    assert sorted(servers) == ["spec.canary[candidate].predictor", "spec.predictor"]
    default, candidate = servers["spec.predictor"], servers["spec.canary[candidate].predictor"]
    assert default.spec["containers"][0]["image"] == f"{IMAGES['serve']}:aaaaaaa"
    assert candidate.spec["containers"][0]["image"] == f"{IMAGES['serve']}@sha256:" + "c" * 64
    default_env, candidate_env = env(default, documents), env(candidate, documents)
    assert default_env["MODEL_VERSION"] == "4" and candidate_env["MODEL_VERSION"] == "5"
    assert candidate_env["MODEL_DIGEST"] == CANDIDATE.model_digest
    assert default_env.get("PREDICTOR_ID", "default") == "default"
    assert candidate_env["PREDICTOR_ID"] == "candidate"
    assert "MIRROR_URL" not in candidate_env, "the candidate copies nothing to itself"
    # The candidate keeps the runtime's whole container: Kafka login, probes, limits.
    names = {e["name"] for e in candidate.spec["containers"][0]["env"]}
    assert {"KAFKA_USERNAME", "KAFKA_PASSWORD"} <= names
    assert candidate.spec["containers"][0]["readinessProbe"] == \
        default.spec["containers"][0]["readinessProbe"]  # fmt: skip
    assert candidate.spec["securityContext"] == default.spec["securityContext"]
    assert candidate.labels[contract.KSERVE_LABEL] == MODEL_NAME
    assert rollout.current(platform_dir) == rollout.Rollout(strategy, STABLE, CANDIDATE)
    with pytest.raises(DeliveryError, match=r"a rollout runs \(rollout.yaml\)"):
        release.read_release(platform_dir, "production")


def test_production_floor_at_its_ceiling_raises_the_ceiling_too(platform_dir):
    """KServe's HPA needs its ceiling at or above the raised floor."""
    for environment in ("staging", "production"):
        base = release.overlay_dir(platform_dir, environment) / "base"
        manifest = base / "runtimes" / "kserve" / "inferenceservice.yaml"
        manifest.write_text(manifest.read_text().replace("maxReplicas: 6", "maxReplicas: 2"))
    rollout.start(platform_dir, Strategy("shadow"))
    predictor = inference_service(checked(platform_dir))["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (4, 4)
    rollout.abort(platform_dir)
    predictor = inference_service(checked(platform_dir))["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 2)


def test_the_shadow_copy_reaches_a_service_the_contract_knows_and_the_policy_allows(platform_dir):
    rollout.start(platform_dir, Strategy("shadow"))
    documents = production(platform_dir)
    namespace = release.namespace("production")
    targets = contract.service_targets(documents)
    assert targets[(namespace, f"{MODEL_NAME}-candidate-predictor", 80)] == 8080
    mirror = next(d for d in documents if d["metadata"]["name"] == f"{MODEL_NAME}-server-mirror")
    mirror["spec"]["egress"][0]["ports"][0]["port"] = 9090
    problems = contract.check(documents, platform_contract(documents))
    assert problems == [
        f"{SERVICE} {namespace}/{MODEL_NAME}: spec.predictor: egress to {MODEL_NAME}-candidate-"
        f"predictor.{namespace}:80: no NetworkPolicy of this pod allows it"
    ]


def test_abort_restores_production_exactly_and_finish_serves_the_candidate_alone(platform_dir):
    before = production(platform_dir)
    for strategy in (Strategy("canary", 20), Strategy("shadow"), Strategy("ab", 50)):
        rollout.start(platform_dir, strategy)
        rollout.abort(platform_dir)
        assert production(platform_dir) == before, strategy
        assert not rollout.patch_path(platform_dir).exists()

    rollout.start(platform_dir, Strategy("canary", 30))
    rollout.finish(platform_dir)
    documents = checked(platform_dir)
    service = inference_service(documents)
    assert "canary" not in service["spec"] and "env" not in service["spec"]["predictor"]["model"]
    (server,) = pods(documents).values()
    assert server.spec["containers"][0]["image"].endswith("@sha256:" + "c" * 64)
    assert env(server, documents)["MODEL_VERSION"] == "5"
    assert release.read_release(platform_dir, "production") == CANDIDATE
    assert rollout.current(platform_dir) is None
    names = {d["metadata"]["name"] for d in documents}
    assert f"{MODEL_NAME}-drift-candidate" not in names


def test_a_second_rollout_on_top_of_a_running_one_is_refused(platform_dir):
    rollout.start(platform_dir, Strategy("shadow"))
    saved = production(platform_dir)
    for strategy in (Strategy("canary", 10), Strategy("replace")):
        with pytest.raises(DeliveryError, match="a shadow rollout of version 5 runs"):
            rollout.start(platform_dir, strategy)
    assert production(platform_dir) == saved


def test_a_canary_then_its_finish_are_pull_requests(platform, capsys, monkeypatch, tmp_path):
    """Through the command line against a bare platform repo and the review API stand-in."""
    monkeypatch.setenv("PLATFORM_REPO_TOKEN", TOKEN)
    patch_path = f"models/{MODEL_NAME}/production/rollout.yaml"
    with fake_review_api("acme/mlops-platform", TOKEN) as api:
        promote = promote_argv(platform, "acme/mlops-platform", api.url)
        assert push_overlay(capsys, platform, version="4", tag="aaaaaaa")[0] == 0
        assert run_cli(capsys, *promote)[1]["action"] == "created"  # the first: a replace
        merge_promotion(platform, tmp_path)
        api.merge()

        assert push_overlay(capsys, platform, version="5", tag="bbbbbbb")[0] == 0
        code, answer = run_cli(capsys, *promote, "--strategy", "canary", "--traffic", "101")
        assert code == 1 and "from 1 to 99" in answer
        code, answer = run_cli(capsys, *promote, "--strategy", "canary", "--traffic", "25")
        assert code == 0 and answer["action"] == "created", answer
        assert api.review().title.endswith("to production as a canary")
        assert "canary, 25 % of the traffic to the candidate" in api.review().body
        patch = remote_file(platform, BRANCH, patch_path, tmp_path)
        assert "trafficPercent: 25" in patch and "name: candidate" in patch
        merge_promotion(platform, tmp_path)
        api.merge()

        code, answer = run_cli(capsys, *promote, "--strategy", "shadow")
        assert code == 1 and "a canary rollout of version 5 runs" in answer
        code, answer = run_cli(capsys, *promote, "--finish")
        assert code == 0 and answer["action"] == "created", answer
        assert api.review().title == f"Finish the canary rollout of {MODEL_NAME} version 5"
        kustomization = remote_file(
            platform, BRANCH, f"models/{MODEL_NAME}/production/kustomization.yaml", tmp_path
        )
        assert "rollout.yaml" not in kustomization and "MODEL_VERSION=5" in kustomization
